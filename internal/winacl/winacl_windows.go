//go:build windows

package winacl

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"unsafe"

	"golang.org/x/sys/windows"
)

// Restrict replaces the access control list of path (a file or a
// directory, not a symbolic link) with a protected one granting full
// access to SYSTEM and Administrators only; a process that is not an
// administrator adds its own user, and an administrator (elevated, or
// SYSTEM) makes Administrators the owner too, where it may. A directory's
// list is inherited by what is later created in it.
func Restrict(path string) error {
	fi, err := os.Lstat(path)
	if err != nil {
		return err
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		return fmt.Errorf("%s: restricting access: is a symbolic link", path)
	}
	id, err := current()
	if err != nil {
		return fmt.Errorf("%s: restricting access: %w", path, err)
	}
	sd, err := windows.SecurityDescriptorFromString(sddl(fi.IsDir(), id.user, id.admin))
	if err != nil {
		return fmt.Errorf("%s: restricting access: %w", path, err)
	}
	dacl, _, err := sd.DACL()
	if err != nil {
		return fmt.Errorf("%s: restricting access: %w", path, err)
	}
	owner, _, err := sd.Owner()
	if err != nil {
		return fmt.Errorf("%s: restricting access: %w", path, err)
	}
	info := windows.SECURITY_INFORMATION(windows.DACL_SECURITY_INFORMATION | windows.PROTECTED_DACL_SECURITY_INFORMATION)
	if owner != nil {
		err = windows.SetNamedSecurityInfo(path, windows.SE_FILE_OBJECT, info|windows.OWNER_SECURITY_INFORMATION, owner, nil, dacl, nil)
		if err == nil {
			return nil
		}
		// Not allowed to make Administrators the owner: keep the owner.
	}
	err = windows.SetNamedSecurityInfo(path, windows.SE_FILE_OBJECT, info, nil, nil, dacl, nil)
	if err != nil {
		return fmt.Errorf("%s: restricting access: %w", path, err)
	}
	return nil
}

// CheckPrivate refuses a directory owned by anyone but the current user,
// SYSTEM or Administrators, or whose access control list lets anyone else
// add, remove or replace its entries.
func CheckPrivate(path string) error { return check(path, checkDir) }

// CheckOwner refuses a file or directory owned by anyone but the current
// user, SYSTEM or Administrators.
func CheckOwner(path string) error { return check(path, nil) }

// CheckSecret refuses a file (a key) owned by anyone but the current user,
// SYSTEM or Administrators, or that anyone else may read or write.
func CheckSecret(path string) error { return check(path, checkSecret) }

// check judges the owner and access-allowed entries of path with judge,
// or only its owner when judge is nil.
func check(path string, judge func(owner string, aces []ace, user string) error) error {
	id, err := current()
	if err != nil {
		return err
	}
	user := id.user
	sd, err := windows.GetNamedSecurityInfo(path, windows.SE_FILE_OBJECT,
		windows.OWNER_SECURITY_INFORMATION|windows.DACL_SECURITY_INFORMATION)
	if err != nil {
		return err
	}
	owner, _, err := sd.Owner()
	if err != nil {
		return err
	}
	if judge == nil {
		return checkDir(owner.String(), nil, user)
	}
	acl, _, err := sd.DACL()
	if err != nil {
		return err
	}
	if acl == nil {
		return errors.New("has no access control list (everyone may write it)")
	}
	var aces []ace
	for i := range uint32(acl.AceCount) {
		var a *windows.ACCESS_ALLOWED_ACE
		if err := windows.GetAce(acl, i, &a); err != nil {
			return err
		}
		if a.Header.AceType != windows.ACCESS_ALLOWED_ACE_TYPE {
			continue
		}
		sid := (*windows.SID)(unsafe.Pointer(&a.SidStart))
		aces = append(aces, ace{sid: sid.String(), mask: uint32(a.Mask), flags: a.Header.AceFlags})
	}
	return judge(owner.String(), aces, user)
}

// Mkdir creates the directory path with the private access control list
// of [Restrict] from the start, so no one ever sees it without it. Like
// os.Mkdir, it fails with an error matching fs.ErrExist if path exists.
func Mkdir(path string) error {
	id, err := current()
	if err != nil {
		return &fs.PathError{Op: "mkdir", Path: path, Err: err}
	}
	p, err := windows.UTF16PtrFromString(path)
	if err != nil {
		return &fs.PathError{Op: "mkdir", Path: path, Err: err}
	}
	for _, admin := range []bool{id.admin, false} {
		sd, err := windows.SecurityDescriptorFromString(sddl(true, id.user, admin))
		if err != nil {
			return &fs.PathError{Op: "mkdir", Path: path, Err: err}
		}
		sa := &windows.SecurityAttributes{SecurityDescriptor: sd}
		sa.Length = uint32(unsafe.Sizeof(*sa))
		err = windows.CreateDirectory(p, sa)
		if admin && errors.Is(err, windows.ERROR_INVALID_OWNER) {
			continue // not allowed to make Administrators the owner
		}
		if err != nil {
			return &fs.PathError{Op: "mkdir", Path: path, Err: err}
		}
		return nil
	}
	return nil
}

// MkdirAll creates path and any missing parents. A path it creates gets
// the private access control list of [Restrict]. An existing one must be
// owned by the current user, SYSTEM or Administrators; if others may write
// it, it is restricted.
func MkdirAll(path string) error {
	switch _, err := os.Lstat(path); {
	case err == nil:
		err := CheckPrivate(path)
		if errors.Is(err, errBroad) {
			err = Restrict(path)
		}
		if err != nil {
			return fmt.Errorf("%s: not private: %w", path, err)
		}
		return nil
	case !errors.Is(err, fs.ErrNotExist):
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	if err := Mkdir(path); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return nil
}

// identity is who this process runs as.
type identity struct {
	user  string // SID
	admin bool   // a member of Administrators, enabled (elevated, or SYSTEM)
}

// current returns who this process runs as.
var current = sync.OnceValues(func() (identity, error) {
	u, err := windows.GetCurrentProcessToken().GetTokenUser()
	if err != nil {
		return identity{}, fmt.Errorf("finding the current user: %w", err)
	}
	admins, err := windows.CreateWellKnownSid(windows.WinBuiltinAdministratorsSid)
	if err != nil {
		return identity{}, fmt.Errorf("finding the Administrators group: %w", err)
	}
	// Token 0: the token of this thread or process, as CheckTokenMembership
	// wants it; a group only for deny (a console that is not elevated) is
	// not membership.
	admin, err := windows.Token(0).IsMember(admins)
	if err != nil {
		return identity{}, fmt.Errorf("checking membership of Administrators: %w", err)
	}
	return identity{user: u.User.Sid.String(), admin: admin}, nil
})
