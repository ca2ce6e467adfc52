// Package fsx writes files atomically: a reader sees the old content or the
// new, never a part. [WriteFiles] stages every [File] as a synced temporary
// file next to its destination and only then renames them all into place;
// [WriteFile] is the one-file case. [SyncDir] makes a directory's entries
// durable.
package fsx
