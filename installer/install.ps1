# Install sisyphus for the current user (Windows), from this checkout:
#   powershell -ExecutionPolicy Bypass -File installer\install.ps1 [sisyphus setup options]
# 1. copies the source to <data dir>\src (the engine venvs are built, and later repaired, from it)
# 2. creates the app venv <data dir>\app and installs sisyphus into it
# 3. adds <data dir>\app\Scripts (sisyphus.exe) to the user's PATH
# 4. runs `sisyphus setup` (engine venvs for this machine's profile, CUDA torch for the driver, default config)
# `sisyphus autostart enable` then registers pythonw.exe (no console window) under HKCU\...\Run.
# <data dir> is the platformdirs user data dir: %LOCALAPPDATA%\sisyphus.
# $env:PYTHON picks the interpreter (3.11+); default: the `py -3` launcher, else python.
$ErrorActionPreference = "Stop"
$Repo = Split-Path -Parent $PSScriptRoot
$Data = Join-Path $env:LOCALAPPDATA "sisyphus"
$Src = Join-Path $Data "src"
$App = Join-Path $Data "app"
$Scripts = Join-Path $App "Scripts"

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

Say "copying the source to $Src"
New-Item -ItemType Directory -Force -Path $Data | Out-Null
robocopy $Repo $Src /MIR /XD .git .venv .cache __pycache__ /NFL /NDL /NJH /NJS /NP | Out-Null
if ($LASTEXITCODE -ge 8) { throw "copying $Repo to $Src failed (robocopy exit code $LASTEXITCODE)" }

if (-not (Test-Path (Join-Path $Scripts "python.exe"))) {
    Say "creating the app venv at $App"
    Invoke-Checked $PyExe ($PyArgs + @("-m", "venv", $App))
}
$AppPy = Join-Path $Scripts "python.exe"
Say "installing sisyphus into $App"
Invoke-Checked $AppPy @("-m", "pip", "install", "--disable-pip-version-check", "-q", "--upgrade", "pip")
Invoke-Checked $AppPy @("-m", "pip", "install", "--disable-pip-version-check", "-q", "-e", $Src)

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
