"""Mail notifications: SMTP settings and sending (`smtp`), what is worth a mail (`notices`),
the daemon's queue that sends them without blocking it (`notifier`), and the periodic look at
the array that notices health and capacity changes (`watch`). See docs/mail.md.
"""

from nasfs.mail.notices import Notice
from nasfs.mail.smtp import MailError, MailSettings, send_mail

__all__ = ["MailError", "MailSettings", "Notice", "send_mail"]
