// Package command runs the external commands certctl starts: renewal hooks
// and the reload commands of exported files. [Run] runs an argv, without a
// shell, in its own process group, which it kills as a whole at a timeout
// ([ErrTimeout]) or when its context is done, and returns the tail of the
// combined output. A command gets a minimal environment ([Environ]): the
// variables in [Inherited], those the user names in [HookEnvVar]
// (CERTCTL_HOOK_ENV), and the ones certctl gives it; never certctl's secrets.
package command
