"""Who may enter the back office: active staff who signed in with their second factor."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from urllib.parse import quote

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from civicstack.core.errors import PermissionDenied

MFA_SESSION_KEY = "civicstack_mfa_verified"


def staff_required[ViewT: Callable[..., HttpResponse]](view: ViewT) -> ViewT:
    """Send anonymous people to sign in; refuse citizens; require MFA for staff."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        user = request.user
        if not user.is_authenticated:
            return HttpResponseRedirect(
                f"{reverse('accounts:sign-in')}?next={quote(request.get_full_path())}"
            )
        if not user.is_staff:
            raise PermissionDenied()
        if not request.session.get(MFA_SESSION_KEY):
            return HttpResponseRedirect(reverse("accounts:mfa-setup"))
        return view(request, *args, **kwargs)

    return wrapper  # type: ignore[return-value]
