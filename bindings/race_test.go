//go:build race

package bindings

const raceEnabled = true
