package renew

import (
	"errors"
	"testing"
)

func TestCheckHook(t *testing.T) {
	ok := [][]string{
		{"systemctl", "reload", "nginx"},
		{"sh", "-c", `cp "$CERTCTL_FULLCHAIN_FILE" /etc/haproxy/ && echo ${CERTCTL_NAME}`},
		{"/bin/bash", "-c", "logger renewed $CERTCTL_DOMAINS"},
		{"echo", "price: $5"},
	}
	for _, argv := range ok {
		if err := CheckHook(argv); err != nil {
			t.Errorf("CheckHook(%q): %v", argv, err)
		}
	}
	bad := [][]string{
		nil,
		{"sh", "-c", "echo $CERTCTL_DOMAIN"},     // typo: unknown variable
		{"notify", "--name", "$CERTCTL_NAME"},    // no shell: never expanded
		{"sh", "-c", "echo ${CERTCTL_NOTAFTER}"}, // unknown
	}
	for _, argv := range bad {
		if err := CheckHook(argv); !errors.Is(err, ErrHookCommand) {
			t.Errorf("CheckHook(%q) = %v, want ErrHookCommand", argv, err)
		}
	}
}
