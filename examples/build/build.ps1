<#
.SYNOPSIS
    Build the image for the customer's site with siteproof, check it, and
    optionally verify it on a real host.
.DESCRIPTION
    Builds CONTEXT for the site's platform (from the site profile) into a
    docker save tarball the site's Docker can load, and inspects it.
    -Verify then loads and runs it on a host like the site's and writes
    the report (report.html, junit.xml, ...) to -Report.
.EXAMPLE
    .\build.ps1
.EXAMPLE
    .\build.ps1 -Tag acme/app:1.4 -Site site.toml -Verify -Target ssh://root@kylin-test
#>
param(
    [string]$Context = "app",
    [string]$Tag = "example/hello:1.0",
    [string]$Output = "dist/app.tar",
    [string]$Site = "../site.toml",
    [switch]$Verify,
    [string]$Target = "",
    [string]$Report = "report"
)

$arguments = @("build", $Context, "--site", $Site, "-t", $Tag, "-o", $Output)
if ($Verify) {
    $arguments += @("--verify", "--report", $Report)
    if ($Target) { $arguments += @("--target", $Target) }
}

& siteproof @arguments
$code = $LASTEXITCODE

switch ($code) {
    0 { Write-Host "OK: $Output is ready for the site" -ForegroundColor Green }
    1 { Write-Host "FAILED: the image would fail at the site (see above)" -ForegroundColor Red }
    2 { Write-Host "FAILED: fix the input: Dockerfile, site file or flags" -ForegroundColor Red }
    3 { Write-Host "NOT JUDGED: Docker or the verification host failed" -ForegroundColor Yellow }
    4 { Write-Host "ATTENTION: something rented was not released (ids above)" -ForegroundColor Red }
}
exit $code
