"""Every finding ``inspect`` can produce, worded in one place.

Each function builds one kind of finding: its code, its severity, what will
happen at the site (quoting the error the site would see) and how to fix
it. Keeping the words here lets them be reviewed and translated together.
"""

from __future__ import annotations

import posixpath

from siteproof.archive.model import BlobProblem
from siteproof.findings import Finding, Severity
from siteproof.preflight.launchers import SHELL_NAMES

ERROR = Severity.ERROR
WARNING = Severity.WARNING
INFO = Severity.INFO

# runc reworded its exec errors in 1.1; engines before 20.10 ship the old form.
_NEW_RUNC_DOCKER = (20, 10)

_REBUILD_HINT = "rebuild it for the site: docker buildx build --platform {platform}"
_LF_HINT = (
    "convert it to LF line endings (dos2unix, or `*.sh text eol=lf` in .gitattributes)"
)


def exec_error(path: str, reason: str, *, docker: tuple[int, int], shell: str) -> str:
    """Return the line the site sees when starting *path* fails with *reason*.

    Args:
        path: the program as it was named.
        reason: the kernel's words, e.g. ``no such file or directory``.
        docker: the site's engine version (older engines word it differently).
        shell: the shell or wrapper (tini, gosu) that runs the program, or ""
            when the engine does.
    """
    if shell in SHELL_NAMES:
        return f"{shell}: 1: {path}: {reason[:1].upper()}{reason[1:]}"
    if shell:
        return f"{shell}: exec {path} failed: {reason}"
    if docker < _NEW_RUNC_DOCKER:
        return f"standard_init_linux.go: exec user process caused: {reason}"
    return f"exec {path}: {reason}"


def _kib(size: int) -> str:
    return f"{size // 1024} KiB" if size >= 1024 else f"{size} bytes"


# Check 1: platform.


def platform_mismatch(image: str, site: str) -> Finding:
    """Return the finding for an image built for another platform."""
    return Finding(
        ERROR,
        "platform-mismatch",
        f"the image is built for {image} but the site runs {site}: its "
        'programs fail there with "exec format error"',
        hint=_REBUILD_HINT.format(platform=site),
    )


def platform_missing(site: str) -> Finding:
    """Return the finding for an image config without an architecture."""
    return Finding(
        WARNING,
        "platform-missing",
        "the image config names no architecture, so the site's Docker cannot "
        f"tell whether it fits {site}",
        hint=_REBUILD_HINT.format(platform=site),
    )


# Check 2 and 6: machine code.


def foreign_elf(path: str, found: str, site: str, *, is_program: bool) -> Finding:
    """Return the finding for a file of machine code the site's CPU cannot run."""
    if is_program:
        effect = f'running it fails with "exec {path}: exec format error"'
    else:
        effect = (
            f'loading it fails with "{path}: cannot open shared object file" '
            '(or "wrong ELF class")'
        )
    return Finding(
        ERROR,
        "foreign-elf",
        f"{path} is {found} machine code, which the {site} site cannot run: {effect}",
        path=path,
        hint="install the build for the site's architecture (pip/npm install on "
        f"{site}, or build with docker buildx --platform linux/{site})",
    )


def page_size(path: str, align: int, site_page: int) -> Finding:
    """Return the finding for an ELF whose segments are aligned below the page."""
    return Finding(
        ERROR,
        "page-size",
        f"{path} aligns its segments to {_kib(align)} but the site's kernel uses "
        f'{_kib(site_page)} pages: it cannot be loaded there ("ELF load command '
        'address/offset not page-aligned", or the program crashes at start)',
        path=path,
        hint=f"rebuild it with -Wl,-z,max-page-size={site_page} (the default of "
        "current aarch64 toolchains)",
    )


def jemalloc_page_size(path: str, site_page: int) -> Finding:
    """Return the finding for a bundled jemalloc on a large-page site."""
    return Finding(
        WARNING,
        "jemalloc-page-size",
        f"{path} carries jemalloc, whose page size is fixed when it is built; if "
        f"that was 4 KiB it aborts on the site's {_kib(site_page)}-page kernel "
        'with "<jemalloc>: Unsupported system page size"',
        path=path,
        hint="use a jemalloc built with --with-lg-page=16, or the system allocator",
    )


# Check 3: the start command.


def no_command() -> Finding:
    """Return the finding for an image with neither Entrypoint nor Cmd."""
    return Finding(
        ERROR,
        "no-command",
        "the image has no Entrypoint or Cmd and the site gives no command: "
        'docker run fails with "No command specified"',
        hint="add CMD or ENTRYPOINT to the Dockerfile, or set [run] command",
    )


def command_not_found(name: str, path_dirs: list[str]) -> Finding:
    """Return the finding for a bare command name that PATH does not find."""
    return Finding(
        ERROR,
        "command-not-found",
        f'the container does not start: exec: "{name}": executable file not '
        f"found in $PATH (PATH={':'.join(path_dirs)})",
        path=name,
        hint="name the program by its full path, or install it into a PATH directory",
    )


def command_missing(name: str, path: str) -> Finding:
    """Return the finding for a start command path that does not exist."""
    return Finding(
        ERROR,
        "command-missing",
        f'the container does not start: exec: "{name}": stat {name}: no such '
        "file or directory",
        path=path,
        hint="check the path in ENTRYPOINT/CMD and that the build copies the file",
    )


def symlink_loop(name: str, path: str) -> Finding:
    """Return the finding for a start command that loops through symlinks."""
    return Finding(
        ERROR,
        "symlink-loop",
        f'the container does not start: exec: "{name}": stat {name}: too many '
        "levels of symbolic links",
        path=path,
        hint="fix the symlinks so they end at the program",
    )


def not_a_file(
    path: str, *, is_dir: bool, docker: tuple[int, int], shell: str
) -> Finding:
    """Return the finding for a start command that is a directory or device."""
    if shell:
        line = exec_error(path, "permission denied", docker=docker, shell=shell)
    elif is_dir:
        line = f'exec: "{path}": is a directory'
    else:
        line = f'exec: "{path}": permission denied'
    return Finding(
        ERROR,
        "command-not-file",
        f"the start command is not a regular file: {line}",
        path=path,
        hint="name the program itself, not its directory",
    )


def not_executable(
    path: str, user: str, *, docker: tuple[int, int], shell: str
) -> Finding:
    """Return the finding for a program its user may not execute."""
    line = exec_error(path, "permission denied", docker=docker, shell=shell)
    return Finding(
        ERROR,
        "command-not-executable",
        f"user {user or 'root'} may not execute {path}: {line}",
        path=path,
        hint="chmod +x it in the Dockerfile (COPY --chmod=755), or run as its owner",
    )


def exec_format(
    path: str, what: str, *, docker: tuple[int, int], shell: str
) -> Finding:
    """Return the finding for a start program the kernel cannot execute."""
    line = exec_error(path, "exec format error", docker=docker, shell=shell)
    return Finding(
        ERROR,
        "exec-format-error",
        f"{path} is {what}, so starting it fails: {line}",
        path=path,
        hint="use a program built for the site, or start a script with a #! line",
    )


def shell_command_not_found(shell: str, name: str) -> Finding:
    """Return the finding for a ``sh -c`` script whose program is missing."""
    return Finding(
        ERROR,
        "shell-command-not-found",
        f"the start script's first program is missing: {shell}: 1: {name}: not "
        "found (exit code 127)",
        path=name,
        hint="use the full path, or install the program into a PATH directory",
    )


def wrapped_command_not_found(wrapper: str, name: str) -> Finding:
    """Return the finding for a program an init or privilege wrapper cannot find."""
    return Finding(
        ERROR,
        "command-not-found",
        f"{wrapper} starts, then fails: exec {name} failed: No such file or "
        "directory (it is not in the image or not on PATH)",
        path=name,
        hint="name the program by its full path, or install it into a PATH directory",
    )


_SCRIPT_ERRORS = {
    "python": "{interpreter}: can't open file '{full}': [Errno 2] No such file "
    "or directory",
    "node": "Error: Cannot find module '{full}'",
    "sh": "{interpreter}: 0: cannot open {path}: No such file",
    "java": "Error: Unable to access jarfile {path}",
    "other": "{interpreter}: can't open {path}: No such file or directory",
}


def script_missing(kind: str, interpreter: str, path: str, full: str) -> Finding:
    """Return the finding for an interpreter whose script file is missing.

    Args:
        kind: python, node, sh, java or other (picks the wording).
        interpreter: the interpreter as the command names it.
        path: the script as the command names it.
        full: that path made absolute from the working directory.
    """
    line = _SCRIPT_ERRORS.get(kind, _SCRIPT_ERRORS["other"]).format(
        interpreter=posixpath.basename(interpreter), path=path, full=full
    )
    return Finding(
        ERROR,
        "script-missing",
        f"the interpreter starts but its script is missing: {line}",
        path=full,
        hint="check WORKDIR and the script path, and that the build copies it",
    )


# Check 4: scripts.


def interpreter_missing(
    script: str,
    interpreter: str,
    *,
    start: bool,
    docker: tuple[int, int],
    shell: str,
) -> Finding:
    """Return the finding for a script whose ``#!`` interpreter is absent.

    Args:
        script: the script.
        interpreter: the path its ``#!`` line names.
        start: the script is part of the start command (an error), or just
            some executable script in the image (a warning).
        docker: the site's engine version.
        shell: the shell that starts the script, "" when the engine does.
    """
    if start:
        line = exec_error(
            script, "no such file or directory", docker=docker, shell=shell
        )
        lead = f"the start command fails: {line}"
    else:
        lead = (
            f'running {script} fails with "{script}: {interpreter}: bad '
            'interpreter: No such file or directory"'
        )
    return Finding(
        ERROR if start else WARNING,
        "interpreter-missing",
        f"{lead}; its interpreter {interpreter} is not in the image",
        path=script,
        hint=f"install {interpreter} in the image, or fix the #! line",
    )


def env_program_missing(script: str, env: str, name: str, *, start: bool) -> Finding:
    """Return the finding for ``#!/usr/bin/env NAME`` when PATH has no NAME."""
    lead = "the start command fails" if start else f"running {script} fails"
    return Finding(
        ERROR if start else WARNING,
        "interpreter-missing",
        f"{lead}: {env}: '{name}': No such file or directory",
        path=script,
        hint=f"install {name} in a PATH directory, or fix the #! line",
    )


def shebang_crlf(
    script: str,
    interpreter: str,
    *,
    severity: Severity,
    docker: tuple[int, int],
    shell: str,
) -> Finding:
    """Return the finding for a ``#!`` line that ends in a carriage return."""
    line = exec_error(script, "no such file or directory", docker=docker, shell=shell)
    shown = interpreter.replace("\r", "^M")
    return Finding(
        severity,
        "shebang-crlf",
        f"{script} has Windows line endings in its #! line: the kernel looks for "
        f'the interpreter "{shown}" and fails with "{line}" '
        f'("{shown}: bad interpreter" when a shell runs it)',
        path=script,
        hint=_LF_HINT,
    )


def script_crlf(script: str) -> Finding:
    """Return the finding for a shell script with CRLF line endings."""
    return Finding(
        WARNING,
        "script-crlf",
        f"{script} has Windows line endings: the shell reads a carriage return "
        "at the end of each line (\"$'\\r': command not found\", bad paths)",
        path=script,
        hint=_LF_HINT,
    )


# Check 5: dynamic programs.


def loader_missing(
    program: str, loader: str, *, docker: tuple[int, int], shell: str
) -> Finding:
    """Return the finding for a program whose dynamic loader is absent."""
    line = exec_error(program, "no such file or directory", docker=docker, shell=shell)
    return Finding(
        ERROR,
        "loader-missing",
        f'starting {program} fails with "{line}": its dynamic loader {loader} '
        "is not in the image (it was built for another libc or base image)",
        path=program,
        hint="build it on the same base image, install its libc, or link it statically",
    )


def library_missing(library: str, needed_by: str, program: str) -> Finding:
    """Return the finding for a shared library no search directory holds."""
    via = "" if needed_by == program else f" (needed by {needed_by})"
    return Finding(
        ERROR,
        "library-missing",
        f"{program}: error while loading shared libraries: {library}: cannot "
        f"open shared object file: No such file or directory{via}",
        path=needed_by,
        hint=f"install the package that provides {library}, or copy it from the "
        "build stage",
    )


def libraries_unknown(path: str) -> Finding:
    """Return the note for an ELF whose library list could not be read."""
    return Finding(
        INFO,
        "libraries-unknown",
        f"the libraries {path} needs could not be read (its dynamic section lies "
        "beyond the bytes read), so they were not checked",
        path=path,
    )


# Check 7: can the site's Docker load it.


def archive_oci_only(docker: str) -> Finding:
    """Return the finding for an OCI layout without ``manifest.json``."""
    return Finding(
        ERROR,
        "archive-oci-only",
        "the tarball is an OCI layout without manifest.json: docker load before "
        f'25.0 (the site runs {docker}) fails with "open manifest.json: no such '
        'file or directory"',
        hint="save it with docker save, or convert it: skopeo copy "
        "oci-archive:IN docker-archive:OUT:name:tag",
    )


def layer_zstd(blob: str, docker: str) -> Finding:
    """Return the finding for a zstd layer and an engine older than 23.0."""
    return Finding(
        ERROR,
        "layer-zstd",
        f"layer {blob} is zstd-compressed: docker load before 23.0 (the site runs "
        f'{docker}) cannot unpack it ("invalid tar header")',
        path=blob,
        hint="rebuild with gzip layers (buildx --output type=docker,"
        "compression=gzip) or convert with skopeo copy",
    )


def blob_corrupt(problem: BlobProblem) -> Finding:
    """Return the finding for a blob whose bytes do not match its digest."""
    if problem.what == "content":
        return Finding(
            ERROR,
            "blob-corrupt",
            f"{problem.blob} cannot be unpacked: {problem.actual}; docker load at "
            "the site will fail",
            path=problem.blob,
            hint="export the image again; if it persists, rebuild the layer",
        )
    return Finding(
        ERROR,
        "blob-corrupt",
        f"{problem.blob} is damaged: its {problem.what} is {problem.actual}, not "
        f"{problem.expected}; docker load at the site will fail",
        path=problem.blob,
        hint="copy the tarball again and compare its sha256 with the original",
    )


def image_untagged(image_id: str) -> Finding:
    """Return the finding for an image saved without a tag."""
    return Finding(
        WARNING,
        "image-untagged",
        "the image has no tag: after docker load the site sees <none>:<none> "
        f"and must start it by id {image_id}",
        hint="save it by name: docker save name:tag -o image.tar",
    )


# Check 8: the user.


def user_unknown(user: str) -> Finding:
    """Return the finding for a user name the image's passwd does not list."""
    return Finding(
        ERROR,
        "user-unknown",
        f"the container does not start: unable to find user {user}: no matching "
        "entries in passwd file",
        path="/etc/passwd",
        hint="create the user in the Dockerfile (useradd), or use a numeric uid",
    )


def group_unknown(group: str) -> Finding:
    """Return the finding for a group name the image's group file does not list."""
    return Finding(
        ERROR,
        "group-unknown",
        f"the container does not start: unable to find group {group}: no "
        "matching entries in group file",
        path="/etc/group",
        hint="create the group in the Dockerfile (groupadd), or use a numeric gid",
    )
