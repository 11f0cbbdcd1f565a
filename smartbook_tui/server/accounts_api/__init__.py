"""The account API of `smartbook server run --http`: accounts created, activated, linked to a phone number and
recovered with 4-digit codes sent by SMS (issue 12). `codes` holds the rules of codes and quotas, without I/O."""
