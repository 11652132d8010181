"""Data-subject requests (GDPR Art. 15-21): the DPO finds one person's data across every holding
of the personal-data registry, hands it over (access export), erases it (crypto-shredding, with a
signed receipt) and keeps a register of the requests. The top domain: it imports the others; the
registry's holdings are handed down by the app (``state.holdings``) and the CLI."""
