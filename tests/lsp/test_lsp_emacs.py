"""A real editor: Emacs with eglot, in batch mode, loads the docs' configuration
verbatim, opens a Python file with `M-x eglot`, and reads back torchlint's
diagnostics (through Flymake), hover, a quick fix enabled by the docs'
`.dir-locals.el`, and the docs' fix-all command.

Skipped when Emacs or eglot is not installed (Emacs 29 has eglot built in; on
Debian 12's Emacs 28: apt-get install emacs-nox elpa-eglot)."""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from editor_docs import docs_block
from lsp_harness import server_env, torchlint_executable

EMACS = shutil.which("emacs")

#: Runs after the docs' init snippet: what a user does by hand, then the results as JSON.
HARNESS = r"""
(require 'eglot)
(require 'json)
(setq eglot-sync-connect 30)
(defun torchlint-test-wait (done)
  (let ((deadline (+ (float-time) 30)))
    (while (and (not (funcall done)) (< (float-time) deadline))
      (accept-process-output nil 0.05))))
(defun torchlint-test-line (n)
  (goto-char (point-min)) (forward-line (1- n)) (point))
(find-file (getenv "TORCHLINT_FILE"))
(call-interactively #'eglot)  ; M-x eglot
(torchlint-test-wait (lambda () (>= (length (flymake-diagnostics)) 2)))
(let* ((diagnostics
        (mapcar (lambda (d) (list (line-number-at-pos (flymake-diagnostic-beg d))
                                  (flymake-diagnostic-text d)
                                  (symbol-name (flymake-diagnostic-type d))))
                (sort (flymake-diagnostics)
                      (lambda (a b) (< (flymake-diagnostic-beg a) (flymake-diagnostic-beg b))))))
       (hover (progn (goto-char (+ (torchlint-test-line 2) 2))
                     (jsonrpc-request (eglot-current-server) :textDocument/hover
                                      (eglot--TextDocumentPositionParams))))
       (quick-fixes (mapcar (lambda (action) (plist-get action :title))
                            (eglot-code-actions (torchlint-test-line 3)
                                                (line-end-position) "quickfix"))))
  (goto-char (point-min))
  FIX-ALL
  (let ((text (buffer-substring-no-properties (point-min) (point-max))))
    (with-temp-file (getenv "TORCHLINT_OUT")
      (insert (json-encode
               (list (cons 'diagnostics (vconcat (mapcar #'vconcat diagnostics)))
                     (cons 'hover (plist-get (plist-get hover :contents) :value))
                     (cons 'quickfixes (vconcat quick-fixes))
                     (cons 'text text)
                     (cons 'version emacs-version)))))))
(kill-emacs 0)
"""


@functools.lru_cache(maxsize=None)
def eglot_missing() -> str | None:
    """Why the test cannot run here, or None."""
    if EMACS is None:
        return "Emacs is not installed (apt-get install emacs-nox elpa-eglot)"
    found = subprocess.run([EMACS, "--batch", "-q", "--eval", "(kill-emacs (if (require 'eglot nil t) 0 3))"],
                           capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
    if found.returncode != 0:
        return "eglot is not available in this Emacs (Emacs 29 has it; on Emacs 28: apt-get install elpa-eglot)"
    return None


def test_the_documented_eglot_setup_works_as_written(workspace: Path) -> None:
    reason = eglot_missing()
    if reason is not None:
        pytest.skip(reason)
    train = workspace / "train.py"
    train.write_text("import torch\nprint(1)\nbreakpoint()\n", encoding="utf-8")
    (workspace / ".dir-locals.el").write_text(docs_block("<!-- emacs-dir-locals -->", "elisp"),
                                              encoding="utf-8")
    fix_all = docs_block("<!-- emacs-fix-all -->", "elisp")
    init = workspace / "init.el"
    init.write_text(docs_block("<!-- emacs-eglot -->", "elisp") + HARNESS.replace("FIX-ALL", fix_all),
                    encoding="utf-8")
    out = workspace / "out.json"
    bin_dir = str(Path(torchlint_executable()).parent)
    # HOME: the user's own init, packages and eglot state stay out of the test.
    env = server_env(TORCHLINT_FILE=str(train), TORCHLINT_OUT=str(out), HOME=str(workspace),
                     PATH=bin_dir + os.pathsep + os.environ.get("PATH", ""))
    completed = subprocess.run([EMACS, "--batch", "-q", "-l", str(init)], cwd=workspace, env=env,
                               capture_output=True, timeout=120, stdin=subprocess.DEVNULL)
    log = completed.stderr.decode("utf-8", "replace")
    assert out.exists(), log
    answer = json.loads(out.read_text(encoding="utf-8"))
    # The diagnostic is the finding's short title; the body is in the hover.
    assert [line for line, _, _ in answer["diagnostics"]] == [2, 3], answer
    assert "print() call; use logger.info" in answer["diagnostics"][0][1]
    assert "breakpoint() call left in the code" in answer["diagnostics"][1][1]
    assert answer["hover"].startswith("**TL901 print() call; use logger.info**\n\nUse logger.info instead.")
    # `.dir-locals.el` turned unsafeFixes on: the unsafe fix of TL902 is offered.
    assert "Remove breakpoint() (TL902, unsafe)" in answer["quickfixes"], answer["quickfixes"]
    assert "Disable TL902 for this line" in answer["quickfixes"], answer["quickfixes"]
    # The documented fix-all applied every safe fix in the buffer.
    assert answer["text"].startswith("import torch\nlogger.info(1)\n"), answer["text"]
