"""Account pages, mounted at /<language>/account/."""

from django.urls import path

from civicstack.accounts import views

app_name = "accounts"

urlpatterns = [
    path("", views.account, name="account"),
    path("sign-in", views.sign_in, name="sign-in"),
    path("sign-in/code", views.sign_in_code, name="sign-in-code"),
    path("sign-out", views.sign_out, name="sign-out"),
    path("create", views.sign_up, name="sign-up"),
    path("create/check-your-email", views.sign_up_check_email, name="sign-up-check-email"),
    path("confirm-email/<str:token>", views.verify_email, name="verify-email"),
    path("confirm-email-again", views.resend_verification, name="resend-verification"),
    path("reset-password", views.password_reset, name="password-reset"),
    path("reset-password/sent", views.password_reset_sent, name="password-reset-sent"),
    path(
        "reset-password/<str:token>",
        views.password_reset_confirm,
        name="password-reset-confirm",
    ),
    path("change-email", views.change_email, name="change-email"),
    path("change-password", views.change_password, name="change-password"),
    path("two-factor/set-up", views.mfa_setup, name="mfa-setup"),
    path("two-factor/recovery-codes", views.mfa_recovery_codes, name="mfa-recovery-codes"),
    path("two-factor/remove", views.mfa_remove, name="mfa-remove"),
    path("passkeys", views.passkeys_list, name="passkeys"),
    path("passkeys/add", views.passkey_add, name="passkey-add"),
    path("passkeys/add/options", views.passkey_add_options, name="passkey-add-options"),
    path("passkeys/<uuid:passkey_id>/rename", views.passkey_rename, name="passkey-rename"),
    path("passkeys/<uuid:passkey_id>/remove", views.passkey_remove, name="passkey-remove"),
    path("sign-in/passkey", views.sign_in_passkey, name="sign-in-passkey"),
    path("sign-in/passkey/options", views.sign_in_passkey_options, name="sign-in-passkey-options"),
    path("sign-in/code/passkey", views.sign_in_code_passkey, name="sign-in-code-passkey"),
    path(
        "sign-in/code/passkey/options",
        views.sign_in_code_passkey_options,
        name="sign-in-code-passkey-options",
    ),
    path("confirm-it-is-you", views.reauthenticate, name="reauthenticate"),
    path("confirm-it-is-you/code", views.step_up_code, name="step-up-code"),
    path("confirm-it-is-you/passkey", views.step_up_passkey, name="step-up-passkey"),
    path(
        "confirm-it-is-you/passkey/options",
        views.step_up_passkey_options,
        name="step-up-passkey-options",
    ),
    path("sessions", views.sessions, name="sessions"),
    path(
        "sessions/sign-out-others", views.sessions_sign_out_others, name="sessions-sign-out-others"
    ),
]
