"""Account pages: sign-in, sign-up, email links, passwords, second factor and sessions.

Views parse the form, call one service or selector and render; the rules are in
``services``. Every page works without JavaScript, except the passkey ceremonies (WebAuthn
is a browser API): their pages say so, and the password and code routes stay beside them.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from django import forms as django_forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.http.request import RawPostDataException
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST

from civicstack.accounts import forms, passkeys, selectors, services, tokens, totp
from civicstack.accounts.constants import SESSION_TIMED_OUT_KEY
from civicstack.accounts.models import User, normalise_email
from civicstack.core.errors import PermissionDenied, RateLimited, ValidationFailed
from civicstack.identity import selectors as identity_selectors

_PENDING_NEXT_KEY = "civicstack_pending_next"
_SIGN_UP_EMAIL_KEY = "civicstack_sign_up_email"
_MFA_SETUP_NEXT_KEY = "civicstack_mfa_setup_next"
_GET_POST = require_http_methods(["GET", "HEAD", "POST"])


def _user(request: HttpRequest) -> User:
    user = request.user
    if not isinstance(user, User):
        raise PermissionDenied()
    return user


def _safe_next(request: HttpRequest, value: str | None) -> str:
    """Return ``value`` if it is a path on this site, else an empty string."""
    if not value or len(value) > 2000:
        return ""
    if url_has_allowed_host_and_scheme(
        value, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return value
    return ""


def _errors_from(form: django_forms.Form, error: ValidationFailed) -> None:
    if not error.field_errors:
        form.add_error(None, str(error.message))
    for name, messages_ in error.field_errors.items():
        for message in messages_:
            form.add_error(name if name in form.fields else None, str(message))


def _rate_limited_error(form: django_forms.Form, field: str, error: RateLimited) -> None:
    form.add_error(field, str(error.message))


def _set_device_cookie(request: HttpRequest, response: HttpResponse, value: str) -> None:
    if not value:
        return
    response.set_cookie(
        tokens.device_cookie_name(),
        value,
        max_age=tokens.DEVICE_COOKIE_MAX_AGE,
        path="/",
        secure=request.is_secure() or settings.HTTPS,
        httponly=True,
        samesite="Lax",
    )


def _after_sign_in(request: HttpRequest, outcome: services.SignInOutcome, next_url: str) -> str:
    if outcome.mfa_setup_required:
        return reverse("accounts:mfa-setup")
    destination = next_url or reverse("accounts:account")
    user = outcome.user
    if (
        user is not None
        and user.email_verified_at is None
        and destination != reverse("accounts:account")
    ):
        # The account page has its own banner; elsewhere a one-off message says it.
        messages.warning(
            request, _("Confirm your email address. We sent you a link when you signed up.")
        )
    return destination


# --- Sign in and out ------------------------------------------------------------------


def _login_hint(request: HttpRequest) -> str:
    """Return the email address a service suggested (OpenID Connect's login_hint), if valid."""
    hint = str(request.GET.get("login_hint", "")).strip()
    if not hint or len(hint) > 254:
        return ""
    try:
        validate_email(hint)
    except DjangoValidationError:
        return ""
    return hint


@never_cache
@sensitive_post_parameters("password")
@_GET_POST
def sign_in(request: HttpRequest) -> HttpResponse:
    """Ask for the email address and password."""
    next_url = _safe_next(request, request.POST.get("next") or request.GET.get("next"))
    if request.method != "POST" and request.user.is_authenticated:
        return HttpResponseRedirect(next_url or reverse("accounts:account"))
    timed_out = request.method != "POST" and request.session.pop(SESSION_TIMED_OUT_KEY, False)
    form = forms.SignInForm(
        request.POST if request.method == "POST" else None,
        initial={"email": _login_hint(request)},
    )
    if request.method == "POST":
        if form.is_valid():
            outcome = services.sign_in_password(
                request=request,
                email=form.cleaned_data["email"],
                password=form.cleaned_data["password"],
            )
            if outcome.status == "second_factor":
                request.session[_PENDING_NEXT_KEY] = next_url
                return HttpResponseRedirect(reverse("accounts:sign-in-code"))
            if outcome.status == "signed_in":
                response = HttpResponseRedirect(_after_sign_in(request, outcome, next_url))
                _set_device_cookie(request, response, outcome.device_cookie)
                return response
            form.add_error("email", str(services.SIGN_IN_FAILED_MESSAGE))
        elif not form.has_error("email", "required") and not form.has_error("password", "required"):
            # Over-long or malformed input: the same message as a wrong password.
            form.errors.clear()
            form.add_error("email", str(services.SIGN_IN_FAILED_MESSAGE))
    passkey_url = reverse("accounts:sign-in-passkey")
    return render(
        request,
        "accounts/sign_in.html",
        {
            "form": form,
            "next": next_url,
            "timed_out": timed_out,
            "passkey_verify_url": _with_next("accounts:sign-in-passkey", next_url)
            if next_url
            else passkey_url,
        },
    )


@never_cache
@_GET_POST
def sign_in_code(request: HttpRequest) -> HttpResponse:
    """Ask for the code from the authenticator app, or a recovery code."""
    pending = services.sign_in_pending_user(request=request)
    if pending is None:
        messages.info(request, _("Your sign-in timed out. Sign in again."))
        return HttpResponseRedirect(reverse("accounts:sign-in"))
    if not pending.has_totp:
        # Their only second factor is a passkey.
        return HttpResponseRedirect(reverse("accounts:sign-in-code-passkey"))
    form = forms.CodeForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        next_url = _safe_next(request, request.session.get(_PENDING_NEXT_KEY))
        outcome = services.sign_in_second_factor(request=request, code=form.cleaned_data["code"])
        if outcome.status == "signed_in":
            request.session.pop(_PENDING_NEXT_KEY, None)
            response = HttpResponseRedirect(_after_sign_in(request, outcome, next_url))
            _set_device_cookie(request, response, outcome.device_cookie)
            return response
        if outcome.status == "ended":
            request.session.pop(_PENDING_NEXT_KEY, None)
            messages.info(request, _("You entered a wrong code too many times. Sign in again."))
            return HttpResponseRedirect(reverse("accounts:sign-in"))
        form.add_error(
            "code",
            _(
                "The code is not correct. Enter the code from your authenticator app "
                "or a recovery code"
            ),
        )
    return render(
        request, "accounts/sign_in_code.html", {"form": form, "has_passkey": pending.has_passkey}
    )


@require_POST
def sign_out(request: HttpRequest) -> HttpResponse:
    """End the session and go to the home page."""
    services.sign_out(request=request)
    messages.success(request, _("You have signed out."))
    return HttpResponseRedirect(reverse("portal:home"))


# --- Sign up and email links ----------------------------------------------------------


@never_cache
@sensitive_post_parameters("password", "password_confirm")
@_GET_POST
def sign_up(request: HttpRequest) -> HttpResponse:
    """Create an account: email address, full name and password."""
    if request.user.is_authenticated:
        return HttpResponseRedirect(reverse("accounts:account"))
    form = forms.SignUpForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            services.user_sign_up(
                email=form.cleaned_data["email"],
                full_name=form.cleaned_data["full_name"],
                password=form.cleaned_data["password"],
                language=(request.LANGUAGE_CODE or "en")[:2],
            )
        except ValidationFailed as error:
            _errors_from(form, error)
        else:
            request.session[_SIGN_UP_EMAIL_KEY] = normalise_email(form.cleaned_data["email"])
            return HttpResponseRedirect(reverse("accounts:sign-up-check-email"))
    return render(request, "accounts/sign_up.html", {"form": form})


@never_cache
def sign_up_check_email(request: HttpRequest) -> HttpResponse:
    """Tell the person to open the link we emailed them."""
    return render(
        request,
        "accounts/sign_up_check_email.html",
        {"email": request.session.get(_SIGN_UP_EMAIL_KEY, "")},
    )


@never_cache
@_GET_POST
def verify_email(request: HttpRequest, token: str) -> HttpResponse:
    """Confirm an email address: the link shows a button, so scanners cannot use it up."""
    if request.method != "POST":
        try:
            content = selectors.email_link_read(token=token)
        except tokens.LinkInvalid:
            return render(request, "accounts/link_invalid.html")
        return render(
            request,
            "accounts/verify_email.html",
            {"change": content.purpose == tokens.PURPOSE_CHANGE_EMAIL},
        )
    try:
        result = services.email_verify(token=token)
    except tokens.LinkInvalid:
        return render(request, "accounts/link_invalid.html")
    except ValidationFailed as error:
        messages_ = [str(m) for ms in error.field_errors.values() for m in ms]
        return render(request, "accounts/link_invalid.html", {"problems": messages_})
    return render(request, "accounts/email_confirmed.html", {"changed": result.changed})


@never_cache
@login_required
@_GET_POST
def resend_verification(request: HttpRequest) -> HttpResponse:
    """Send another email verification link (rate-limited)."""
    user = _user(request)
    if user.email_verified_at is not None:
        return HttpResponseRedirect(reverse("accounts:account"))
    form = django_forms.Form(request.POST if request.method == "POST" else None)
    if request.method == "POST":
        try:
            services.email_verification_resend(user=user)
        except RateLimited as error:
            form.add_error(None, str(error.message))
        else:
            messages.success(request, _("We have sent you a new link. Check your email."))
            return HttpResponseRedirect(reverse("accounts:account"))
    return render(request, "accounts/resend_verification.html", {"form": form})


# --- Password reset -------------------------------------------------------------------


@never_cache
@_GET_POST
def password_reset(request: HttpRequest) -> HttpResponse:
    """Ask for the email address to send a reset link to."""
    form = forms.EmailForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        services.password_reset_request(email=form.cleaned_data["email"])
        return HttpResponseRedirect(reverse("accounts:password-reset-sent"))
    return render(request, "accounts/password_reset.html", {"form": form})


@never_cache
def password_reset_sent(request: HttpRequest) -> HttpResponse:
    """Say the same thing whether or not the address has an account."""
    return render(request, "accounts/password_reset_sent.html")


@never_cache
@sensitive_post_parameters("password", "password_confirm")
@_GET_POST
def password_reset_confirm(request: HttpRequest, token: str) -> HttpResponse:
    """Choose a new password from a reset link."""
    try:
        selectors.password_reset_link_user(token=token)
    except tokens.LinkInvalid:
        return render(request, "accounts/link_invalid.html", {"reset": True})
    form = forms.NewPasswordForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            services.password_reset_complete(token=token, password=form.cleaned_data["password"])
        except tokens.LinkInvalid:
            return render(request, "accounts/link_invalid.html", {"reset": True})
        except ValidationFailed as error:
            _errors_from(form, error)
        else:
            messages.success(
                request, _("Your password has been reset. Sign in with your new password.")
            )
            return HttpResponseRedirect(reverse("accounts:sign-in"))
    return render(request, "accounts/password_reset_confirm.html", {"form": form})


# --- Your account ---------------------------------------------------------------------


@never_cache
@login_required
def account(request: HttpRequest) -> HttpResponse:
    """Show the account overview."""
    user = _user(request)
    identity_checks = identity_selectors.identity_verifications_for(user=user)
    return render(
        request,
        "accounts/account.html",
        {
            "identity_check": next((row for row in identity_checks if row.current), None),
            "account_user": user,
            "unverified": user.email_verified_at is None,
            "has_totp": user.has_totp,
            "may_remove_totp": not user.mfa_required or user.has_passkey,
            "passkey_count": selectors.passkeys_for(user=user).count(),
            "recovery_codes_left": (
                selectors.recovery_codes_remaining(user=user) if user.has_totp else 0
            ),
        },
    )


@never_cache
@login_required
@sensitive_post_parameters("password")
@_GET_POST
def change_email(request: HttpRequest) -> HttpResponse:
    """Change the email address (needs the password; the new address must be confirmed)."""
    user = _user(request)
    form = forms.ChangeEmailForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        new_email = form.cleaned_data["new_email"]
        try:
            services.email_change_request(
                user=user, new_email=new_email, password=form.cleaned_data["password"]
            )
        except ValidationFailed as error:
            _errors_from(form, error)
        except RateLimited as error:
            _rate_limited_error(form, "password", error)
        else:
            messages.success(
                request,
                _(
                    "We have sent a link to %(email)s. "
                    "Open it to finish changing your email address."
                )
                % {"email": new_email},
            )
            return HttpResponseRedirect(reverse("accounts:account"))
    return render(request, "accounts/change_email.html", {"form": form})


@never_cache
@login_required
@sensitive_post_parameters("current_password", "new_password", "new_password_confirm")
@_GET_POST
def change_password(request: HttpRequest) -> HttpResponse:
    """Change the password; other sessions are signed out."""
    user = _user(request)
    form = forms.ChangePasswordForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            services.password_change(
                request=request,
                user=user,
                current_password=form.cleaned_data["current_password"],
                new_password=form.cleaned_data["new_password"],
            )
        except ValidationFailed as error:
            _errors_from(form, error)
        except RateLimited as error:
            _rate_limited_error(form, "current_password", error)
        else:
            messages.success(
                request,
                _("Your password has been changed. You have been signed out everywhere else."),
            )
            return HttpResponseRedirect(reverse("accounts:account"))
    return render(request, "accounts/change_password.html", {"form": form})


# --- Second factor --------------------------------------------------------------------


@never_cache
@login_required
@_GET_POST
def mfa_setup(request: HttpRequest) -> HttpResponse:
    """Set up an authenticator app: scan the QR code (or type the key), then enter a code."""
    user = _user(request)
    if user.has_totp:
        return render(request, "accounts/mfa_already_set_up.html")
    next_url = _safe_next(request, request.GET.get("next"))
    if next_url:
        # Back to where set-up was asked for (the step-up page), after the recovery codes.
        request.session[_MFA_SETUP_NEXT_KEY] = next_url
    form = forms.CodeForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            codes = services.mfa_enrolment_confirm(
                request=request, user=user, code=form.cleaned_data["code"]
            )
        except ValidationFailed as error:
            _errors_from(form, error)
        except RateLimited as error:
            _rate_limited_error(form, "code", error)
        else:
            request.session[services.RECOVERY_CODES_SESSION_KEY] = codes
            return HttpResponseRedirect(reverse("accounts:mfa-recovery-codes"))
    device = services.mfa_enrolment_start(user=user)
    uri = totp.totp_provisioning_uri(
        secret=device.secret, account_name=user.email, issuer=settings.SERVICE_NAME
    )
    return render(
        request,
        "accounts/mfa_setup.html",
        {
            "form": form,
            "qr_svg": totp.totp_qr_svg(uri=uri, title=_("QR code for your authenticator app")),
            "secret_groups": totp.totp_secret_groups(device.secret),
            "required": user.mfa_required and not user.has_mfa,
        },
    )


@never_cache
@login_required
@sensitive_post_parameters("password")
@_GET_POST
def mfa_recovery_codes(request: HttpRequest) -> HttpResponse:
    """Show new recovery codes once; or, with the password, make a new set."""
    user = _user(request)
    if not user.has_totp:
        return HttpResponseRedirect(reverse("accounts:mfa-setup"))
    codes = request.session.pop(services.RECOVERY_CODES_SESSION_KEY, None)
    if codes and request.method != "POST":
        return render(
            request,
            "accounts/mfa_recovery_codes.html",
            {
                "codes": codes,
                "continue_url": _safe_next(request, request.session.pop(_MFA_SETUP_NEXT_KEY, ""))
                or reverse("accounts:account"),
            },
        )
    form = forms.PasswordForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            new_codes = services.mfa_recovery_codes_regenerate(
                request=request, user=user, password=form.cleaned_data["password"]
            )
        except ValidationFailed as error:
            _errors_from(form, error)
        except RateLimited as error:
            _rate_limited_error(form, "password", error)
        else:
            request.session[services.RECOVERY_CODES_SESSION_KEY] = new_codes
            return HttpResponseRedirect(reverse("accounts:mfa-recovery-codes"))
    return render(request, "accounts/mfa_recovery_codes_new.html", {"form": form})


@never_cache
@login_required
@sensitive_post_parameters("password")
@_GET_POST
def mfa_remove(request: HttpRequest) -> HttpResponse:
    """Remove the authenticator app (needs the password; staff only if they have a passkey)."""
    user = _user(request)
    if user.mfa_required and not user.has_passkey:
        raise PermissionDenied(_("Staff accounts must keep an authenticator app or a passkey."))
    if not user.has_totp:
        return HttpResponseRedirect(reverse("accounts:account"))
    form = forms.PasswordForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            services.mfa_remove(request=request, user=user, password=form.cleaned_data["password"])
        except ValidationFailed as error:
            _errors_from(form, error)
        except RateLimited as error:
            _rate_limited_error(form, "password", error)
        else:
            messages.success(request, _("Your authenticator app has been removed."))
            return HttpResponseRedirect(reverse("accounts:account"))
    return render(request, "accounts/mfa_remove.html", {"form": form})


# --- Sessions -------------------------------------------------------------------------


@never_cache
@login_required
def sessions(request: HttpRequest) -> HttpResponse:
    """List the places this account is signed in."""
    rows = selectors.user_sessions_for(
        user=_user(request), current_session_key=request.session.session_key
    )
    context: dict[str, Any] = {"rows": rows, "others": sum(1 for row in rows if not row.current)}
    return render(request, "accounts/sessions.html", context)


@login_required
@require_POST
def sessions_sign_out_others(request: HttpRequest) -> HttpResponse:
    """Sign out of every other session."""
    ended = services.sessions_end_others(request=request, user=_user(request))
    if ended:
        messages.success(request, _("You have been signed out everywhere else."))
    else:
        messages.info(request, _("You were not signed in anywhere else."))
    return HttpResponseRedirect(reverse("accounts:sessions"))


# --- Passkeys, step-up and re-authentication ----------------------------------------------
#
# WebAuthn needs JavaScript: each ceremony has an options URL (POST, returns the JSON for
# navigator.credentials) and a page URL that takes the browser's answer as JSON and replies
# {"redirect": url} or {"error": message}. The static module civicstack/passkeys.js does
# the browser side. Pages say plainly that passkeys need JavaScript; the password and code
# routes beside them work without it.


def _json_body(request: HttpRequest) -> dict[str, Any]:
    """Return the request's JSON object, or raise PasskeyRefused for anything else."""
    if request.content_type != "application/json":
        raise passkeys.PasskeyRefused(passkeys.PASSKEY_NOT_ACCEPTED)
    try:
        if len(request.body) > passkeys.MAX_CREDENTIAL_JSON:
            raise passkeys.PasskeyRefused(passkeys.PASSKEY_NOT_ACCEPTED)
        data = json.loads(request.body.decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RequestDataTooBig, RawPostDataException) as exc:
        raise passkeys.PasskeyRefused(passkeys.PASSKEY_NOT_ACCEPTED) from exc
    if not isinstance(data, dict):
        raise passkeys.PasskeyRefused(passkeys.PASSKEY_NOT_ACCEPTED)
    return data


def _json_error(message: Any, *, status: int = 400) -> JsonResponse:
    return JsonResponse({"error": str(message)}, status=status)


def _json_options(options: str) -> HttpResponse:
    return HttpResponse(options, content_type="application/json")


def _error_text(error: ValidationFailed) -> str:
    for messages_ in error.field_errors.values():
        for message in messages_:
            return str(message)
    return str(error.message)


def _step_up_next(request: HttpRequest) -> str:
    """Return ``?next=`` when it is a path on this site, else the account page."""
    return _safe_next(request, request.POST.get("next") or request.GET.get("next")) or reverse(
        "accounts:account"
    )


def _with_next(name: str, next_url: str) -> str:
    return f"{reverse(name)}?{urlencode({'next': next_url})}"


@never_cache
@login_required
def passkeys_list(request: HttpRequest) -> HttpResponse:
    """List the person's passkeys: name, when added, when last used.

    With ``?next=`` (from a step-up page) adding a passkey returns there afterwards.
    """
    user = _user(request)
    next_url = _safe_next(request, request.GET.get("next"))
    add_url = reverse("accounts:passkey-add")
    return render(
        request,
        "accounts/passkeys.html",
        {
            "passkeys": selectors.passkeys_for(user=user),
            "staff_last": user.mfa_required and not user.has_totp,
            "add_url": _with_next("accounts:passkey-add", next_url) if next_url else add_url,
            "next": next_url,
        },
    )


@never_cache
@login_required
@_GET_POST
def passkey_add(request: HttpRequest) -> HttpResponse:
    """Add a passkey (needs a recent sign-in); the browser posts its new credential here.

    Afterwards the person goes to ``?next=`` when it is a local page, else their passkeys.
    """
    user = _user(request)
    next_url = _safe_next(request, request.GET.get("next"))
    here = _with_next("accounts:passkey-add", next_url) if next_url else request.path
    if request.method == "POST":
        try:
            data = _json_body(request)
            services.passkey_register(
                request=request,
                user=user,
                credential=data.get("credential"),
                name=str(data.get("name") or _("Passkey")),
            )
        except ValidationFailed as error:
            return _json_error(_error_text(error))
        except PermissionDenied as error:
            return _json_error(error.message, status=403)
        messages.success(request, _("Your passkey has been added."))
        return JsonResponse({"redirect": next_url or reverse("accounts:passkeys")})
    if not services.session_recently_authenticated(request=request):
        return HttpResponseRedirect(_with_next("accounts:reauthenticate", here))
    form = forms.PasskeyNameForm(initial={"name": _("Passkey")})
    return render(
        request,
        "accounts/passkey_add.html",
        {
            "form": form,
            "required": user.mfa_required and not user.has_mfa,
            "verify_url": here,
        },
    )


@never_cache
@login_required
@require_POST
def passkey_add_options(request: HttpRequest) -> HttpResponse:
    """Return the options for adding a passkey, after checking the name it will get."""
    user = _user(request)
    try:
        data = _json_body(request)
        if "name" in data:
            services.passkey_name_validate(name=str(data.get("name") or _("Passkey")))
        options = services.passkey_registration_begin(request=request, user=user)
    except ValidationFailed as error:
        return _json_error(_error_text(error))
    except PermissionDenied as error:
        return _json_error(error.message, status=403)
    return _json_options(options)


def _own_passkey_or_404(user: User, passkey_id: Any) -> Any:
    passkey = selectors.passkeys_for(user=user).filter(pk=passkey_id).first()
    if passkey is None:
        raise Http404()
    return passkey


@never_cache
@login_required
@_GET_POST
def passkey_rename(request: HttpRequest, passkey_id: Any) -> HttpResponse:
    """Give a passkey a new name."""
    user = _user(request)
    passkey = _own_passkey_or_404(user, passkey_id)
    form = forms.PasskeyNameForm(
        request.POST if request.method == "POST" else None, initial={"name": passkey.name}
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.passkey_rename(
                request=request, user=user, passkey_id=passkey.pk, name=form.cleaned_data["name"]
            )
        except ValidationFailed as error:
            _errors_from(form, error)
        else:
            messages.success(request, _("Your passkey has been renamed."))
            return HttpResponseRedirect(reverse("accounts:passkeys"))
    return render(request, "accounts/passkey_rename.html", {"form": form, "passkey": passkey})


@never_cache
@login_required
@_GET_POST
def passkey_remove(request: HttpRequest, passkey_id: Any) -> HttpResponse:
    """Remove a passkey (needs a recent sign-in; staff keep at least one second factor)."""
    user = _user(request)
    passkey = _own_passkey_or_404(user, passkey_id)
    here = reverse("accounts:passkey-remove", kwargs={"passkey_id": passkey.pk})
    if not services.session_recently_authenticated(request=request):
        return HttpResponseRedirect(_with_next("accounts:reauthenticate", here))
    form = django_forms.Form(request.POST if request.method == "POST" else None)
    if request.method == "POST":
        try:
            services.passkey_remove(request=request, user=user, passkey_id=passkey.pk)
        except PermissionDenied as error:
            form.add_error(None, str(error.message))
        else:
            messages.success(request, _("Your passkey has been removed."))
            return HttpResponseRedirect(reverse("accounts:passkeys"))
    return render(request, "accounts/passkey_remove.html", {"form": form, "passkey": passkey})


@never_cache
@require_POST
def sign_in_passkey_options(request: HttpRequest) -> HttpResponse:
    """Return the options for signing in with a passkey alone."""
    return _json_options(services.passkey_sign_in_begin(request=request))


@never_cache
@require_POST
def sign_in_passkey(request: HttpRequest) -> HttpResponse:
    """Sign in with a passkey and no password; the browser posts its assertion here."""
    try:
        data = _json_body(request)
    except ValidationFailed:
        return _json_error(services.PASSKEY_SIGN_IN_FAILED_MESSAGE)
    outcome = services.sign_in_passkey(request=request, credential=data.get("credential"))
    if outcome.status != "signed_in":
        return _json_error(services.PASSKEY_SIGN_IN_FAILED_MESSAGE)
    next_url = _safe_next(request, str(data.get("next") or "")) or _safe_next(
        request, request.GET.get("next")
    )
    response = JsonResponse({"redirect": _after_sign_in(request, outcome, next_url)})
    _set_device_cookie(request, response, outcome.device_cookie)
    return response


@never_cache
@_GET_POST
def sign_in_code_passkey(request: HttpRequest) -> HttpResponse:
    """Use a passkey as the second factor after the password."""
    user = services.sign_in_pending_user(request=request)
    if user is None:
        if request.method == "POST":
            return _json_error(_("Your sign-in timed out. Sign in again."))
        messages.info(request, _("Your sign-in timed out. Sign in again."))
        return HttpResponseRedirect(reverse("accounts:sign-in"))
    if request.method != "POST":
        if not user.has_passkey:
            return HttpResponseRedirect(reverse("accounts:sign-in-code"))
        return render(
            request,
            "accounts/sign_in_code_passkey.html",
            {"has_totp": user.has_totp},
        )
    next_url = _safe_next(request, request.session.get(_PENDING_NEXT_KEY))
    try:
        data = _json_body(request)
    except ValidationFailed:
        data = {}
    outcome = services.sign_in_second_factor_passkey(
        request=request, credential=data.get("credential")
    )
    if outcome.status == "signed_in":
        request.session.pop(_PENDING_NEXT_KEY, None)
        response = JsonResponse({"redirect": _after_sign_in(request, outcome, next_url)})
        _set_device_cookie(request, response, outcome.device_cookie)
        return response
    if outcome.status == "ended":
        request.session.pop(_PENDING_NEXT_KEY, None)
        messages.info(request, _("You tried too many times. Sign in again."))
        return JsonResponse({"redirect": reverse("accounts:sign-in")})
    return _json_error(passkeys.PASSKEY_NOT_ACCEPTED)


@never_cache
@require_POST
def sign_in_code_passkey_options(request: HttpRequest) -> HttpResponse:
    """Return the options for using a passkey after the password."""
    try:
        return _json_options(services.passkey_second_factor_begin(request=request))
    except PermissionDenied:
        return _json_error(_("Your sign-in timed out. Sign in again."), status=403)


@never_cache
@login_required
@sensitive_post_parameters("password")
@_GET_POST
def reauthenticate(request: HttpRequest) -> HttpResponse:
    """Ask for the password again before something sensitive, then go to ``next``."""
    user = _user(request)
    next_url = _step_up_next(request)
    form = forms.PasswordForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            services.reauthenticate(
                request=request, user=user, password=form.cleaned_data["password"]
            )
        except ValidationFailed as error:
            _errors_from(form, error)
        except RateLimited as error:
            _rate_limited_error(form, "password", error)
        else:
            return HttpResponseRedirect(next_url)
    return render(
        request,
        "accounts/reauthenticate.html",
        {
            "form": form,
            "next": next_url,
            "has_totp": user.has_totp,
            "has_passkey": user.has_passkey,
        },
    )


@never_cache
@login_required
@_GET_POST
def step_up_code(request: HttpRequest) -> HttpResponse:
    """Confirm it is you with an authenticator code or a recovery code, then go to ``next``."""
    user = _user(request)
    next_url = _step_up_next(request)
    form = forms.CodeForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            services.step_up_code(request=request, user=user, code=form.cleaned_data["code"])
        except ValidationFailed as error:
            _errors_from(form, error)
        except RateLimited as error:
            _rate_limited_error(form, "code", error)
        except PermissionDenied as error:
            form.add_error("code", str(error.message))
        else:
            return HttpResponseRedirect(next_url)
    return render(
        request,
        "accounts/step_up_code.html",
        {
            "form": form,
            "next": next_url,
            "has_totp": user.has_totp,
            "has_passkey": user.has_passkey,
        },
    )


@never_cache
@login_required
@_GET_POST
def step_up_passkey(request: HttpRequest) -> HttpResponse:
    """Confirm it is you with one of your passkeys, then go to ``next``."""
    user = _user(request)
    next_url = _step_up_next(request)
    if request.method == "POST":
        try:
            data = _json_body(request)
            services.step_up_passkey(request=request, user=user, credential=data.get("credential"))
        except ValidationFailed as error:
            return _json_error(_error_text(error))
        except RateLimited as error:
            return _json_error(error.message, status=429)
        except PermissionDenied as error:
            return _json_error(error.message, status=403)
        return JsonResponse({"redirect": next_url})
    return render(
        request,
        "accounts/step_up_passkey.html",
        {
            "next": next_url,
            "verify_url": _with_next("accounts:step-up-passkey", next_url),
            "has_totp": user.has_totp,
            "has_passkey": user.has_passkey,
        },
    )


@never_cache
@login_required
@require_POST
def step_up_passkey_options(request: HttpRequest) -> HttpResponse:
    """Return the options for confirming it is you with a passkey."""
    try:
        return _json_options(services.passkey_step_up_begin(request=request, user=_user(request)))
    except PermissionDenied as error:
        return _json_error(error.message, status=403)
