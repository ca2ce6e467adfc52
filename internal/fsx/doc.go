// Package fsx writes files atomically: a reader sees the old content or the
// new, never a part. It has one function, [WriteFile].
package fsx
