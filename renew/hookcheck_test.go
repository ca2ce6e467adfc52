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
		{"powershell.exe", "-NoProfile", "-File", `C:\Program Files\certctl\deploy.ps1`, "-Site", "Default Web Site"},
		{`C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe`, "-Command", `Write-Output $env:CERTCTL_PFX_FILE ${env:CERTCTL_NAME}`},
		{"pwsh", "-c", "Write-Output $env:certctl_serial"}, // Windows' variables ignore case
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
		{"powershell.exe", "-Command", "Write-Output $env:CERTCTL_PFX_PASSWORD"}, // unknown (and never set)
		{"PowerShell", "-Command", "Import-PfxCertificate $CERTCTL_PFX_FILE"},    // a PowerShell variable, empty
		{"pwsh.exe", "-c", "echo ${env:CERTCTL_DOMAIN}"},                         // unknown
	}
	for _, argv := range bad {
		if err := CheckHook(argv); !errors.Is(err, ErrHookCommand) {
			t.Errorf("CheckHook(%q) = %v, want ErrHookCommand", argv, err)
		}
	}
}
