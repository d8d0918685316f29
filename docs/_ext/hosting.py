"""Where the book is hosted, read from the hosting environment (no invented links).

``conf.py`` and the browser test both use these, so that the test allows exactly
the repository links the build made.

- ``ATTNBOOK_REPOSITORY_URL`` (and ``ATTNBOOK_REPOSITORY_BRANCH``): set by hand;
- GitHub Actions: ``GITHUB_SERVER_URL``, ``GITHUB_REPOSITORY``, ``GITHUB_REF_NAME``;
- Read the Docs: ``READTHEDOCS_GIT_CLONE_URL``, ``READTHEDOCS_GIT_IDENTIFIER``.

With none of these the repository is unknown, and the book shows no repository,
source or edit buttons.
"""

import os
import re


def repository(environ=os.environ):
    """``(url, branch)`` of the book's repository, or ``(None, None)`` if unknown."""
    url = environ.get("ATTNBOOK_REPOSITORY_URL")
    branch = environ.get("ATTNBOOK_REPOSITORY_BRANCH")
    if not url and environ.get("GITHUB_REPOSITORY"):
        server = environ.get("GITHUB_SERVER_URL", "https://github.com")
        url = f"{server}/{environ['GITHUB_REPOSITORY']}"
        ref = environ.get("GITHUB_REF_NAME", "")
        branch = branch or (ref if ref and "/merge" not in ref else None)
    if not url and environ.get("READTHEDOCS_GIT_CLONE_URL"):
        clone = environ["READTHEDOCS_GIT_CLONE_URL"]
        # git@github.com:owner/repo.git -> https://github.com/owner/repo
        clone = re.sub(r"^git@([^:]+):", r"https://\1/", clone)
        url = clone
        branch = branch or environ.get("READTHEDOCS_GIT_IDENTIFIER")
    if not url:
        return None, None
    url = re.sub(r"\.git$", "", url.rstrip("/"))
    return url, branch or "main"


def url_prefix(environ=os.environ):
    """The path the book is served under, for the links of its 404 page.

    ``ATTNBOOK_URL_PREFIX`` if set; on GitHub Actions the Pages sub-path
    ``/<repository>/`` (``/`` for a ``<owner>.github.io`` repository); on Read the
    Docs None (sphinx-notfound-page then uses the project's canonical URL); else ``/``.
    """
    if environ.get("ATTNBOOK_URL_PREFIX"):
        prefix = environ["ATTNBOOK_URL_PREFIX"]
        return "/" + prefix.strip("/") + "/" if prefix.strip("/") else "/"
    if environ.get("GITHUB_REPOSITORY"):
        name = environ["GITHUB_REPOSITORY"].split("/")[-1]
        return "/" if name.endswith(".github.io") else f"/{name}/"
    if environ.get("READTHEDOCS") == "True":
        return None
    return "/"
