"""Training backends: the local Ray head the lab manages, Ray Job Submission against any
head (local, remote, KubeRay head service), and KubeRay RayJob custom resources."""
