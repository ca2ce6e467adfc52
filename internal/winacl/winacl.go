package winacl

import (
	"errors"
	"fmt"
	"strings"
)

// errBroad is a path with a trusted owner that others may get into: its
// owner (or an administrator) can fix it with [Restrict].
var errBroad = errors.New("open to others")

// Well-known security identifiers.
const (
	sidSystem = "S-1-5-18"     // NT AUTHORITY\SYSTEM (services run as it)
	sidAdmins = "S-1-5-32-544" // BUILTIN\Administrators
	// NT SERVICE\TrustedInstaller, which owns and may change the system's
	// own files (C:\Program Files and what inherits from it).
	sidTrustedInstaller = "S-1-5-80-956008885-3418522649-1831038044-1853292631-2271478464"
)

// sddl returns the security descriptor (in SDDL) that [Restrict] applies:
// a protected DACL (nothing inherited from the parent) granting full
// access to SYSTEM and Administrators. A directory's entries are inherited
// by the files and directories later created in it (OICI).
//
// When this process is an administrator (elevated, or SYSTEM: admin), the
// owner is the Administrators group too, so that the service (SYSTEM) and
// an administrator's console trust what the other created. Otherwise the
// process's user (a SID) gets an entry of its own, or it would lock itself
// out; such a store is not one the service trusts.
func sddl(dir bool, user string, admin bool) string {
	flags := ""
	if dir {
		flags = "OICI"
	}
	var b strings.Builder
	sids := []string{"SY", "BA"}
	if admin {
		b.WriteString("O:BA")
	} else if user != "" && user != sidSystem && user != sidAdmins {
		sids = append(sids, user)
	}
	b.WriteString("D:P")
	for _, s := range sids {
		fmt.Fprintf(&b, "(A;%s;FA;;;%s)", flags, s)
	}
	return b.String()
}

// trusted reports whether sid may own or write a private directory of
// user: SYSTEM, Administrators, TrustedInstaller, or user itself.
func trusted(sid, user string) bool {
	return sid == sidSystem || sid == sidAdmins || sid == sidTrustedInstaller || (user != "" && sid == user)
}

// Access rights that let their holder add, remove or replace entries of a
// directory, or change who may.
const (
	fileAddFile         = 0x0002
	fileAddSubdirectory = 0x0004
	fileDeleteChild     = 0x0040
	accessDelete        = 0x00010000
	writeDAC            = 0x00040000
	writeOwner          = 0x00080000
	genericAll          = 0x10000000
	genericWrite        = 0x40000000

	writeMask = fileAddFile | fileAddSubdirectory | fileDeleteChild | accessDelete |
		writeDAC | writeOwner | genericAll | genericWrite
)

// Access rights that let their holder read a file.
const (
	fileReadData = 0x0001
	genericRead  = 0x80000000

	readMask = fileReadData | genericRead | genericAll
)

// aceInheritOnly marks an ACE that applies only to a directory's children.
const aceInheritOnly = 0x08

// ace is one access-allowed entry of a DACL.
type ace struct {
	sid   string
	mask  uint32
	flags uint8
}

// checkDir judges a directory's owner and access-allowed entries: it
// refuses an owner that is not trusted and an entry that lets anyone else
// write the directory.
func checkDir(owner string, aces []ace, user string) error {
	return checkACL(owner, aces, user, writeMask, "write")
}

// checkSecret judges a secret file's owner and entries: no one else may
// read or write it.
func checkSecret(owner string, aces []ace, user string) error {
	return checkACL(owner, aces, user, readMask|writeMask, "read or write")
}

// checkACL refuses an owner that is not trusted and an entry that grants
// anyone else a right in mask.
func checkACL(owner string, aces []ace, user string, mask uint32, what string) error {
	if !trusted(owner, user) {
		return fmt.Errorf("owned by %s, not by this user (%s), SYSTEM or Administrators", owner, user)
	}
	for _, a := range aces {
		if a.flags&aceInheritOnly != 0 || a.mask&mask == 0 || trusted(a.sid, user) {
			continue
		}
		return fmt.Errorf("%w: %s may %s it (access mask %#x)", errBroad, a.sid, what, a.mask)
	}
	return nil
}
