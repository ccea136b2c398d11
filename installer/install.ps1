# Install sisyphus for the current user (Windows), from this checkout:
#   powershell -ExecutionPolicy Bypass -File installer\install.ps1 [sisyphus setup options]
# A thin wrapper over the way without a clone (README): `uv tool install sisyphus-assistant` (or pipx),
# then `sisyphus setup`; here the package is this checkout, which may be deleted afterwards.
# 1. installs the app as a Python tool: with uv when it is on PATH, else pipx, else a uv of its own
#    (<data dir>\uv); the app gets its own venv and sisyphus.exe lands in the tool's bin folder
# 2. adds that folder to the user's PATH
# 3. runs the installed `sisyphus setup` (engine venvs for this machine's profile, CUDA torch for the driver,
#    default config)
# `sisyphus autostart enable` then registers pythonw.exe (no console window) under HKCU\...\Run.
# <data dir> is the platformdirs user data dir: %LOCALAPPDATA%\sisyphus.
# $env:PYTHON picks the interpreter (3.11+); default: the `py -3` launcher, else python.
$ErrorActionPreference = "Stop"
$Repo = Split-Path -Parent $PSScriptRoot
$Data = Join-Path $env:LOCALAPPDATA "sisyphus"

function Say($msg) { Write-Host "== install.ps1: $msg" }
function Invoke-Checked($exe, [string[]]$argv) {
    & $exe @argv
    if ($LASTEXITCODE -ne 0) { throw "'$exe $($argv -join ' ')' failed with exit code $LASTEXITCODE" }
}

if ($env:PYTHON) { $Py = @($env:PYTHON) }
elseif (Get-Command py -ErrorAction SilentlyContinue) { $Py = @("py", "-3") }
else { $Py = @("python") }
$PyExe, $PyArgs = $Py[0], @($Py | Select-Object -Skip 1)
& $PyExe @PyArgs -c "import sys; sys.exit(sys.version_info < (3, 11))"
if ($LASTEXITCODE -ne 0) {
    throw "sisyphus needs Python 3.11 or newer ('$($Py -join ' ')' is older or missing). Install it from python.org, or set `$env:PYTHON to its python.exe"
}

# The Python tool installer: uv, else pipx, else uv bootstrapped into <data dir>\uv.
New-Item -ItemType Directory -Force -Path $Data | Out-Null
if (Get-Command uv -ErrorAction SilentlyContinue) { $Tool = "uv"; $Uv = (Get-Command uv).Source }
elseif (Get-Command pipx -ErrorAction SilentlyContinue) { $Tool = "pipx" }
else {
    $Tool = "uv"
    $UvVenv = Join-Path $Data "uv"
    $Uv = Join-Path $UvVenv "Scripts\uv.exe"
    if (-not (Test-Path $Uv)) {
        Say "installing uv (the Python tool installer) into $UvVenv"
        Invoke-Checked $PyExe ($PyArgs + @("-m", "venv", $UvVenv))
        Invoke-Checked (Join-Path $UvVenv "Scripts\python.exe") @("-m", "pip", "install", "--disable-pip-version-check", "-q", "uv")
    }
}
$PyPath = & $PyExe @PyArgs -c "import sys; print(sys.executable)"
Say "installing sisyphus with $Tool"
if ($Tool -eq "uv") {
    Invoke-Checked $Uv @("tool", "install", "--force", "--reinstall", "--python", $PyPath, $Repo)
    $Scripts = (& $Uv tool dir --bin).Trim()
    $AppDir = Join-Path (& $Uv tool dir).Trim() "sisyphus-assistant"
} else {
    Invoke-Checked "pipx" @("install", "--force", "--python", $PyPath, $Repo)
    $Scripts = (& pipx environment --value PIPX_BIN_DIR).Trim()
    $AppDir = Join-Path (& pipx environment --value PIPX_LOCAL_VENVS).Trim() "sisyphus-assistant"
}
$AppPy = Join-Path $AppDir "Scripts\python.exe"
if (-not (Test-Path $AppPy)) { throw "the installed sisyphus has no interpreter at $AppPy" }

$UserPath = [Environment]::GetEnvironmentVariable("Path", "User")
if (-not (($UserPath -split ";") -contains $Scripts)) {
    [Environment]::SetEnvironmentVariable("Path", (@($UserPath, $Scripts) -ne "" -join ";"), "User")
    Say "added $Scripts to your PATH (new terminals will find sisyphus)"
}
$env:Path = "$Scripts;$env:Path"

# torch's Windows wheels load only with the Microsoft Visual C++ runtime (vcruntime140_1.dll)
if (-not (Test-Path (Join-Path $env:SystemRoot "System32\vcruntime140_1.dll"))) {
    Write-Warning ("The Microsoft Visual C++ Redistributable (x64) is missing: the GPU engines' torch will not load. " +
        "Install it from https://aka.ms/vs/17/release/vc_redist.x64.exe, then run 'sisyphus setup' again.")
}

# setup picks the CUDA build of torch for the driver's CUDA version (PyPI's Windows torch is CPU-only);
# every path below is passed as one argument, so a data dir or user name with spaces is fine.
Say "sisyphus setup $($args -join ' ')"
# -P: import the installed copy, not a checkout that happens to be the current directory
Invoke-Checked $AppPy (@("-P", "-m", "installer.setup") + $args)
