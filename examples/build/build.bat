@echo off
rem Build the image for the customer's site with siteproof and check it.
rem Usage: build.bat [--verify [TARGET]]
rem   build.bat                              build and inspect
rem   build.bat --verify                     then verify (default target)
rem   build.bat --verify ssh://root@kylin-test
rem The report (report.html, junit.xml, ...) goes to the folder report.
setlocal
set "CONTEXT=app"
set "TAG=example/hello:1.0"
set "OUTPUT=dist\app.tar"
set "SITE=..\site.toml"
set "VERIFY="
if /i "%~1"=="--verify" set "VERIFY=--verify --report report"
if defined VERIFY if not "%~2"=="" set "VERIFY=%VERIFY% --target %~2"

siteproof build "%CONTEXT%" --site "%SITE%" -t "%TAG%" -o "%OUTPUT%" %VERIFY%
set "CODE=%ERRORLEVEL%"

if "%CODE%"=="0" echo OK: %OUTPUT% is ready for the site
if "%CODE%"=="1" echo FAILED: the image would fail at the site, see above 1>&2
if "%CODE%"=="2" echo FAILED: fix the input: Dockerfile, site file or flags 1>&2
if "%CODE%"=="3" echo NOT JUDGED: Docker or the verification host failed 1>&2
if "%CODE%"=="4" echo ATTENTION: something rented was not released, ids above 1>&2
exit /b %CODE%
