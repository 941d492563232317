"""WeCom's HTTP API (``qyapi.weixin.qq.com/cgi-bin``), as far as the archive needs it.

The Finance SDK covers the chat archive itself; everything else WeCom knows about the
archive (who has the archiving licence, consent, groups …) comes over this HTTP API with an
access token obtained from the corp id and the 会话内容存档 secret.
"""
