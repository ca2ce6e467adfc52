// Package renew decides when certificates are due and renews them.
//
// Its types: [Policy] is the pure renewal rule (the CA's ARI window, else a
// third of the lifetime left, half for short-lived certificates, with
// per-certificate jitter) and its [Decision]; [Service] issues, renews,
// revokes and rolls back the certificates of a store, each under its
// per-certificate lock, runs their hooks ([HookEnv]) and file bindings, and
// reports a [Result] per certificate; [Manager] runs a Service unattended on a
// cron schedule and at each earliest due time, publishing [Event]s;
// [Metrics] exports it all to Prometheus; [Notifier] posts [Notification]s to
// a webhook.
package renew
