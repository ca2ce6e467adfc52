// Package storetest is the conformance suite of certctl's store backends:
// [Run] checks every promise of the store.Store contract and of
// store.Shared against a backend that a test opens, so the bbolt and the
// etcd backends are held to the same behaviour. Only tests import it.
package storetest
