<#
.SYNOPSIS
certctl deploy hook for IIS (Windows Server 2016 and later, Windows PowerShell 5.1).

.DESCRIPTION
certctl runs it after each renewal. It imports the PFX that certctl just
wrote into Cert:\LocalMachine\WebHosting (the chain into the intermediate
store), binds it with SNI to the site's https binding for each of the
certificate's names (creating the binding if missing), and removes the
certificate it replaced from WebHosting once no binding uses it.

It reads only variables certctl sets: CERTCTL_EVENT, CERTCTL_NAME,
CERTCTL_DOMAINS, CERTCTL_SERIAL, CERTCTL_PFX_FILE and, for the password,
CERTCTL_PFX_PASSWORD_FILE or CERTCTL_PFX_PASSWORD_ENV. On failure it prints
one line to standard error and exits 1; certctl then reports the deployment
as failed.

.PARAMETER Site
The IIS site whose https bindings get the certificate.

.PARAMETER Port
The https port of those bindings.

.PARAMETER ClientCertNegotiation
Ask for a client certificate in the TLS handshake (needed to require client
certificates over TLS 1.3). Give it if you set IIS to require them.

.EXAMPLE
certctl configure example.com --pfx C:\ProgramData\certctl\pfx\example.com.pfx --pfx-password-file C:\ProgramData\certctl\pfx.pass --deploy-hook "powershell.exe -NoProfile -NonInteractive -ExecutionPolicy Bypass -File 'C:\Program Files\certctl\deploy.ps1' -Site 'Default Web Site'"
#>
param(
    [string]$Site = 'Default Web Site',
    [int]$Port = 443,
    [switch]$ClientCertNegotiation
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version 2.0

function Fail([string]$Message) {
    [Console]::Error.WriteLine('deploy.ps1: ' + $env:CERTCTL_NAME + ': ' + $Message)
    exit 1
}

# The application id IIS uses for its http.sys certificate bindings.
$IISAppId = '{4dc3e181-e14b-4a21-b022-59fc669b0914}'
$WebHosting = 'Cert:\LocalMachine\WebHosting'

try {
    if ($env:CERTCTL_EVENT -ne 'deploy') {
        Fail ('run me as a deploy hook (--deploy-hook), not for the event "' + $env:CERTCTL_EVENT + '"')
    }
    $pfx = $env:CERTCTL_PFX_FILE
    if (-not $pfx) {
        Fail 'certctl wrote no PFX: give the certificate a PFX binding (--pfx FILE)'
    }

    # The password, read where certctl says it is and as certctl reads it
    # (the bytes as UTF-8, trailing newlines removed). A variable reaches
    # hooks only when CERTCTL_HOOK_ENV names it.
    $password = ''
    if ($env:CERTCTL_PFX_PASSWORD_FILE) {
        $bytes = [IO.File]::ReadAllBytes($env:CERTCTL_PFX_PASSWORD_FILE)
        $password = [Text.Encoding]::UTF8.GetString($bytes).TrimEnd("`r`n".ToCharArray())
    } elseif ($env:CERTCTL_PFX_PASSWORD_ENV) {
        $password = [Environment]::GetEnvironmentVariable($env:CERTCTL_PFX_PASSWORD_ENV)
        if ($null -eq $password) {
            Fail ('the PFX password is in ' + $env:CERTCTL_PFX_PASSWORD_ENV + ', which hooks do not get: name it in CERTCTL_HOOK_ENV or use --pfx-password-file')
        }
    }

    # 1. Import: the leaf and its key into WebHosting, the issuers into the
    # intermediate store (IIS sends the chain from there).
    $certs = New-Object Security.Cryptography.X509Certificates.X509Certificate2Collection
    $certs.Import($pfx, $password, [Security.Cryptography.X509Certificates.X509KeyStorageFlags]'MachineKeySet, PersistKeySet')
    $leaf = $certs | Where-Object { $_.HasPrivateKey } | Select-Object -First 1
    if (-not $leaf) {
        Fail ($pfx + ' holds no certificate with a private key')
    }
    if ($leaf.SerialNumber.TrimStart('0') -ne $env:CERTCTL_SERIAL.TrimStart('0')) {
        Fail ($pfx + ' holds serial ' + $leaf.SerialNumber + ', not the new ' + $env:CERTCTL_SERIAL)
    }
    $thumb = $leaf.Thumbprint
    $tag = 'certctl ' + $env:CERTCTL_NAME + ' '
    $leaf.FriendlyName = $tag + $env:CERTCTL_SERIAL
    $store = New-Object Security.Cryptography.X509Certificates.X509Store('WebHosting', 'LocalMachine')
    $store.Open('ReadWrite')
    $store.Add($leaf)
    $store.Close()
    $ca = New-Object Security.Cryptography.X509Certificates.X509Store('CA', 'LocalMachine')
    $ca.Open('ReadWrite')
    foreach ($c in $certs) {
        if (-not $c.HasPrivateKey) { $ca.Add($c) }
    }
    $ca.Close()
    Write-Output ('imported ' + $thumb + ' (serial ' + $env:CERTCTL_SERIAL + ') into ' + $WebHosting)

    # 2. Bind: an https binding with SNI per name, and its http.sys
    # certificate, replaced in place (update) so no handshake goes without.
    try {
        Import-Module WebAdministration
    } catch {
        Fail ('the IIS module WebAdministration is missing (install IIS with its management scripts and tools): ' + $_.Exception.Message)
    }
    if (-not (Test-Path ('IIS:\Sites\' + $Site))) {
        Fail ('no IIS site "' + $Site + '"')
    }
    $replaced = @()
    foreach ($name in $env:CERTCTL_DOMAINS.Split(',')) {
        $ip = $null
        if ($name.StartsWith('*.') -or [Net.IPAddress]::TryParse($name, [ref]$ip)) {
            Write-Output ('skipped ' + $name + ': bind wildcard and IP names by hand')
            continue
        }
        $bindings = @(Get-WebBinding -Name $Site -Protocol https -Port $Port -HostHeader $name)
        if ($bindings.Count -eq 0) {
            New-WebBinding -Name $Site -Protocol https -Port $Port -HostHeader $name -SslFlags 1
        }
        foreach ($b in $bindings) {
            if (([int]$b.sslFlags -band 1) -eq 0) {
                Set-WebBinding -Name $Site -BindingInformation $b.bindingInformation -PropertyName sslFlags -Value ([int]$b.sslFlags -bor 1)
            }
        }
        $hostPort = $name + ':' + $Port
        $verb = 'add'
        $sslPath = 'IIS:\SslBindings\!' + $Port + '!' + $name
        if (Test-Path $sslPath) {
            $verb = 'update'
            $old = (Get-Item $sslPath).Thumbprint
            if ($old -and $old -ne $thumb) { $replaced += $old }
        }
        $netshArgs = @('http', $verb, 'sslcert', ('hostnameport=' + $hostPort), ('certhash=' + $thumb),
            'certstorename=WebHosting', ('appid=' + $IISAppId))
        if ($ClientCertNegotiation) { $netshArgs += 'clientcertnegotiation=enable' }
        # Not 2>&1: Windows PowerShell 5.1 turns a native command's standard
        # error into a terminating error under ErrorActionPreference Stop.
        $out = & netsh.exe @netshArgs
        if ($LASTEXITCODE -ne 0) {
            Fail ('netsh http ' + $verb + ' sslcert for ' + $hostPort + ' failed: ' + ($out -join ' '))
        }
        Write-Output ('bound ' + $thumb + ' to https://' + $hostPort + ' (SNI) of site "' + $Site + '"')
    }

    # 3. Remove what was replaced: the certificates these bindings used
    # before and the earlier imports of this script for this name, each
    # once no http.sys binding uses it, and only from WebHosting.
    $replaced += @(Get-ChildItem $WebHosting | Where-Object {
            $_.FriendlyName.StartsWith($tag) -and $_.Thumbprint -ne $thumb
        } | ForEach-Object { $_.Thumbprint })
    $inUse = @(Get-ChildItem IIS:\SslBindings | ForEach-Object { $_.Thumbprint })
    foreach ($t in ($replaced | Sort-Object -Unique)) {
        if ($inUse -contains $t) {
            Write-Output ('kept ' + $t + ': another binding still uses it')
        } elseif (Test-Path ($WebHosting + '\' + $t)) {
            Remove-Item ($WebHosting + '\' + $t) -DeleteKey
            Write-Output ('removed the replaced certificate ' + $t + ' from ' + $WebHosting)
        } else {
            Write-Output ('left ' + $t + ' alone: it is not in ' + $WebHosting)
        }
    }
} catch {
    Fail $_.Exception.Message
}
exit 0
