package store

// tryLockFile takes an exclusive lock on the file at path (created 0600)
// without waiting for another holder.
func tryLockFile(path string) (release func() error, ok bool, err error) {
	f, err := openLockFile(path)
	if err != nil {
		return nil, false, err
	}
	ok, err = tryLockFD(f)
	if err != nil || !ok {
		_ = f.Close()
		return nil, false, err
	}
	return func() error { return unlockFile(f) }, true, nil
}
