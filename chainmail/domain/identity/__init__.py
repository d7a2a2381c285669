"""The identity context: wallets as users — signatures, nonces, logins, referrals and OAuth grants."""
