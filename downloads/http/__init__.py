"""Pure HTTP helpers for serving stored files: byte ranges, preconditions, Content-Disposition
and content types.

Nothing here touches models or settings, so every rule can be tested as a plain function.
"""
