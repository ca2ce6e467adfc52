// Package fsx writes files atomically: a reader sees the old content or the
// new, never a part. [WriteFiles] stages every [File] as a synced temporary
// file next to its destination and only then renames them all into place;
// [WriteFile] is the one-file case. [WritePrivateFiles] does the same for
// secrets, in directories checked by [OpenPrivateDir] (not a symbolic link,
// owned by the current user or root, not writable by others:
// [ErrUnsafeDir]). [SyncDir] makes a directory's entries durable.
package fsx
