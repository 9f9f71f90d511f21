"""The real servers, started as a deployer would, for the integration tests and the benchmarks.

gunicorn with deploy/gunicorn.conf.py (`gunicorn`), nginx from deploy/nginx.conf.template
(`nginx`), moto's S3 server as the bucket (`s3`) and a loopback name server (`dns`), each on a
free loopback port with a start-up deadline (`process`); logging in through the form (`login`);
what those processes cost, read from /proc (`procfs`); the environment and Django storage
settings that point a server and the process driving it at the same files (`env`, `storages`).

Neither tests/ nor bench/ owns it: tests/servers.py makes pytest fixtures of it, bench/ measures
through it. It is not deployed, which is why it is not under deploy/.
"""
