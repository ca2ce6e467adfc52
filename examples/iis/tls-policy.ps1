<#
.SYNOPSIS
Applies certctl's TLS policy to SChannel, the TLS of IIS. Opt-in; dry run unless -Apply.

.DESCRIPTION
The policy of certctl's own servers (bindings.Intermediate): TLS 1.2 and
1.3 only; ECDHE key exchange with AES-GCM suites only. No SSL 2.0/3.0,
TLS 1.0/1.1, RC4, DES, 3DES, RC2, NULL or CBC suites.

It changes the whole machine (every program that serves TLS through
SChannel), so it runs only when asked: without -Apply it prints what it
would set and changes nothing; with -Apply, as Administrator, it writes
these registry values under HKLM:
  SYSTEM\CurrentControlSet\Control\SecurityProviders\SCHANNEL\Protocols\P\Server
      Enabled, DisabledByDefault (the server side only)
  SYSTEM\CurrentControlSet\Control\SecurityProviders\SCHANNEL\Ciphers\C
      Enabled = 0
  SOFTWARE\Policies\Microsoft\Cryptography\Configuration\SSL\00010002
      Functions: the cipher suites, in order; those not listed are off
SChannel reads them when Windows starts: restart Windows afterwards
(Restart-Computer; restarting IIS is not enough). TLS 1.3 exists from
Windows Server 2022: on 2016 and 2019 its values are written and ignored,
which leaves TLS 1.2. A domain Group Policy that sets the cipher suite
order overrides this one.

.PARAMETER Apply
Write the values (else only print them).
#>
param([switch]$Apply)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version 2.0

$schannel = 'SYSTEM\CurrentControlSet\Control\SecurityProviders\SCHANNEL'
$suites = @(
    # TLS 1.3
    'TLS_AES_256_GCM_SHA384',
    'TLS_AES_128_GCM_SHA256',
    'TLS_CHACHA20_POLY1305_SHA256',
    # TLS 1.2: ECDHE and AEAD only (SChannel has no ChaCha20 for TLS 1.2)
    'TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384',
    'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256',
    'TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384',
    'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256'
)

# Each setting: registry key under HKLM, value name, value (an int is a
# DWORD, a string a REG_SZ).
$settings = New-Object System.Collections.ArrayList
foreach ($p in @('SSL 2.0', 'SSL 3.0', 'TLS 1.0', 'TLS 1.1')) {
    [void]$settings.Add(@(($schannel + '\Protocols\' + $p + '\Server'), 'Enabled', 0))
    [void]$settings.Add(@(($schannel + '\Protocols\' + $p + '\Server'), 'DisabledByDefault', 1))
}
foreach ($p in @('TLS 1.2', 'TLS 1.3')) {
    [void]$settings.Add(@(($schannel + '\Protocols\' + $p + '\Server'), 'Enabled', 1))
    [void]$settings.Add(@(($schannel + '\Protocols\' + $p + '\Server'), 'DisabledByDefault', 0))
}
foreach ($c in @('NULL', 'DES 56/56', 'RC2 40/128', 'RC2 56/128', 'RC2 128/128',
        'RC4 40/128', 'RC4 56/128', 'RC4 64/128', 'RC4 128/128', 'Triple DES 168')) {
    [void]$settings.Add(@(($schannel + '\Ciphers\' + $c), 'Enabled', 0))
}
[void]$settings.Add(@('SOFTWARE\Policies\Microsoft\Cryptography\Configuration\SSL\00010002', 'Functions', ($suites -join ',')))

try {
    foreach ($s in $settings) {
        $key, $name, $value = $s
        $kind = [Microsoft.Win32.RegistryValueKind]::DWord
        if ($value -is [string]) { $kind = [Microsoft.Win32.RegistryValueKind]::String }
        Write-Output ('HKLM\' + $key + ' ' + $name + ' = ' + $value + ' (' + $kind + ')')
        if ($Apply) {
            # The .NET API, not New-Item: cipher names hold '/', which the
            # registry provider would take for a path separator.
            $k = [Microsoft.Win32.Registry]::LocalMachine.CreateSubKey($key)
            $k.SetValue($name, $value, $kind)
            $k.Close()
        }
    }
} catch {
    # .NET exceptions arrive wrapped (MethodInvocationException).
    $e = $_.Exception
    while ($e.InnerException) { $e = $e.InnerException }
    $hint = ''
    if ($e -is [UnauthorizedAccessException] -or $e -is [Security.SecurityException]) {
        $hint = 'run it as Administrator: '
    }
    [Console]::Error.WriteLine('tls-policy.ps1: ' + $hint + $e.Message)
    exit 1
}

if ($Apply) {
    Write-Output 'Written. Restart Windows (Restart-Computer) for SChannel to use it: restarting IIS is not enough.'
} else {
    Write-Output 'Dry run: nothing was changed. Run it again with -Apply, as Administrator, then restart Windows.'
}
exit 0
