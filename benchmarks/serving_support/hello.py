"""A plain Ray Serve deployment that answers every request with a fixed JSON body: what Ray
Serve's request path costs on this machine with no model and no application code."""

from ray import serve
from starlette.requests import Request
from starlette.responses import JSONResponse


@serve.deployment(max_ongoing_requests=256)
class Hello:
    async def __call__(self, request: Request) -> JSONResponse:
        await request.body()
        return JSONResponse({"predictions": [0]})


app = Hello.bind()  # type: ignore[attr-defined]
