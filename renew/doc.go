// Package renew decides when certificates are due and renews them.
//
// Its types: [Policy] is the pure renewal rule and [Policy.Decide] its one
// entry point (the CA's ARI window, else a third of the lifetime left, half
// for short-lived certificates, with per-certificate jitter, then failure
// back-off), giving a [Decision]; [Service] issues, renews, configures
// ([Settings]), deploys, revokes, rolls back and removes the certificates of
// a [Store], each under its per-certificate lock, and reports a [Result] per
// certificate; it reaches CAs through [Issuers] ([Accounts], the account
// registry, gives an [Issuer] per CA and account, which *acme.Client is);
// [Manager] runs a Service unattended on a cron schedule and at each
// earliest due time, publishing [Event]s; [Metrics] exports it all to
// Prometheus; [Notifier] posts [Notification]s to a webhook and emails them
// through an SMTP server ([Mail]); hooks get a [HookEnv].
//
// In a fleet (nodes sharing one store): Solvers.Shared publishes every
// http-01 and tls-alpn-01 answer in the store's shared values through
// [SharedChallenges], so whichever node a CA's request reaches answers it,
// and [Service.ServeChallenges] keeps a node that is not ordering answering
// (the daemon's --serve-challenges); [Accounts] registers an account under
// a store lock ([AccountLocker]), once for the whole fleet.
//
// Files: policy.go (Decide, Status, RetryAt), service.go (Service, Issue,
// Renew, RenewMany, with OnResult for progress and MaxOrdersPerSecond),
// timings.go (Timings of each Result), obtain.go (the steps of one renewal: order, validate,
// commit, activate or fail, and ARI), operations.go (Revoke, Rollback,
// Remove, Deploy), settings.go (Configure and the one merge rule),
// accounts.go, fleet.go (SharedChallenges, ServeChallenges), interfaces.go (Store, Issuer, Issuers), deploy.go (file
// bindings, hooks, notifications of one certificate), hooks.go, hookcheck.go,
// manager.go, metrics.go, notify.go (Notifier, webhook), notify_mail.go
// (Mail).
package renew
