"""`make bench`: the app's downloads measured next to nginx serving the same files from disk.

One run starts the deploy/ configurations (gunicorn, nginx from the rendered template) and moto's
S3 server on loopback ports, loads them with wrk and curl, and prints one table whose ratios are
to reference rows measured in that same run. See the README's Performance section.
"""
