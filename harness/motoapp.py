"""moto's S3 server as a WSGI application, for gunicorn to serve (MotoS3(keep_alive=True)).

`python -m moto.server` runs werkzeug's development server, which answers every request with
`Connection: close`: each call from the app to the bucket then opens a new TCP connection and
moto a new thread. S3 keeps connections alive, and so does botocore's pool, so under load the
benchmark would measure that reconnecting rather than the app. The same moto application under
gunicorn (one process: moto's buckets live in its memory) keeps them alive.
"""

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

application = DomainDispatcherApplication(create_backend_app)
