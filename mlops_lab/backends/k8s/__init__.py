"""Kubernetes: client and kubeconfig, credentials, names, validation, cron, and the
CronJob and RayJob manifest builders."""
