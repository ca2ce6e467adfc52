// Package proctest lets tests of code that starts external commands (renewal
// hooks, reload commands) wait on events instead of the clock.
//
// [Script] writes a /bin/sh script; [RequireShell] skips a test where there
// is none. [Start] runs the code under test in a goroutine and hands it the
// path of a named pipe through which the script reports the processes it
// starts (echo $! > "$PIPE"); [Command.Child] returns each reported process
// as a [Process], held through a Linux pidfd, whose end [Process.WaitGone]
// waits for. [CheckTimeoutKillsChild] is the check that the hook and reload
// tests share.
//
// Only tests import this package. Outside Linux, Start skips the test.
package proctest
