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
    path("sessions", views.sessions, name="sessions"),
    path(
        "sessions/sign-out-others", views.sessions_sign_out_others, name="sessions-sign-out-others"
    ),
]
