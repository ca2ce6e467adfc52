// Package desired reads the file of `certctl apply` and `certctl daemon
// --config`, which describes the certificates a store should hold, and
// computes the plan that makes a store match it.
//
// [Parse] reads the file (YAML or JSON) into a [Spec]: one
// [store.Certificate] template per certificate, with the file's defaults
// merged into each by [renew.Settings.Apply]. Every unknown key and bad value
// is reported as a [FieldError] with its file, line and field, all of them at
// once in [Errors]. [MakePlan] compares a Spec with the certificates stored
// and returns one [Step] per certificate: create, update, reorder, keep or
// (with pruning) remove. The package does no I/O besides reading the file,
// and contacts no CA.
package desired
