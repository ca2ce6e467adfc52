// Package winacl keeps files and directories that hold secrets private on
// Windows, where POSIX modes such as 0600 mean nothing. [Restrict] gives a
// path a protected access control list that grants access only to SYSTEM
// and the Administrators group, plus the current user when it is not an
// administrator (the Windows counterpart of owner-only modes); [Mkdir] and [MkdirAll] create directories with it;
// [CheckPrivate] refuses a directory that someone else owns or may write,
// [CheckOwner] one that someone else owns, and [CheckSecret] a file that
// someone else may read or write. Elsewhere Restrict and the checks do
// nothing, and Mkdir and MkdirAll are their os counterparts with mode 0700:
// the callers' file modes do the job there.
package winacl
