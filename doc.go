// Package certctl is the embedder's facade: it wires certctl's packages
// together for a Go program that serves TLS with certificates certctl
// manages. More comes here later (a configuration, one call to manage
// certificates and get a TLS config); today it holds [BinderSource], which
// lets a [bindings.Binder] follow a [store.DB] so that renewals made by any
// process reach the running server.
//
// The packages it joins do not know each other: store depends only on
// bbolt and bindings only on the standard library.
package certctl
