"""Password hashing: Argon2id with OWASP's minimum cost, measured for sign-in throughput.

OWASP's password storage guidance gives Argon2id with 19 MiB of memory, 2 iterations and
one lane as a minimum. On the reference 2-core machine that checks about 48 passwords a
second on one core (``make bench``, bench/passwords.py); Django's default Argon2 settings
(100 MiB, 8 lanes) managed about 8 a second. Hashes made with older parameters are
upgraded at the next sign-in by Django's ``must_update``.
"""

from django.contrib.auth.hashers import Argon2PasswordHasher


class CivicstackArgon2PasswordHasher(Argon2PasswordHasher):
    """Argon2id, m=19 MiB, t=2, p=1."""

    algorithm = "argon2"
    time_cost = 2
    memory_cost = 19 * 1024  # KiB
    parallelism = 1
