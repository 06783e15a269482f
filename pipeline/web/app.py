"""One FastAPI application: JSON search API (OpenAPI at /openapi.json), page images and audio,
and the search page. Every request is answered for a role, and every lookup goes through the
same access check, so restricted text never leaves the store for a user who may not see it.

Roles come from bearer tokens in the profile (``web.tokens``: SHA-256 of the token → role); a
request without a token is ``public``. Unknown items and items the role may not see both answer
404, so a refusal does not reveal that an item exists.

Images and audio are loaded by the browser's <img> and <audio>, which cannot send a bearer
token, so the API hands out media links signed for one path, one role and one hour.
"""


import hashlib
import hmac
import mimetypes
import secrets
import time
from pathlib import Path
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, PlainTextResponse

from pipeline.config import Settings
from pipeline.index.query import QueryError
from pipeline.index.tantivy_index import IndexBusy
from pipeline.search import Filters, SearchRequest, page_detail, search
from pipeline.search_export import hits_csv
from pipeline.store import open_store
from pipeline.store.sqlite import IndexInconsistent
from pipeline.suggest import suggest

STATIC = Path(__file__).parent / "static"


def create_app(settings: Settings) -> FastAPI:
    app = FastAPI(title="dangan 档案全文检索", version="1", docs_url=None, redoc_url=None,
                  description="Full-text search of digitised archives: pages and recording segments.")
    tokens = settings.web.tokens
    secret = secrets.token_bytes(32)  # per process: signed links die with the server

    def _sig(path: str, role: str, exp: int) -> str:
        return hmac.new(secret, f"{path}\n{role}\n{exp}".encode(), hashlib.sha256).hexdigest()

    def signed(path: str, role: str) -> str:
        exp = int(time.time()) + 3600
        return f"{path}?role={role}&exp={exp}&sig={_sig(path, role, exp)}"

    def role_of(request: Request) -> str:
        sig = request.query_params.get("sig")
        if sig is not None:
            role, exp = request.query_params.get("role", ""), request.query_params.get("exp", "0")
            if not exp.isdigit() or int(exp) < time.time() or not hmac.compare_digest(sig, _sig(request.url.path, role, int(exp))):
                raise HTTPException(403, "the link has expired or is not valid")
            return role
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            digest = hashlib.sha256(auth[7:].strip().encode()).hexdigest()
            if digest not in tokens:
                raise HTTPException(401, "unknown token")
            return tokens[digest]
        return settings.web.default_role

    Role = Annotated[str, Depends(role_of)]

    @app.exception_handler(RequestValidationError)
    async def _bad_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(x) for x in first.get("loc", ()))
        return JSONResponse({"error": f"{where}: {first.get('msg', 'invalid request')}"}, status_code=400)

    # The index is behind or disagrees with the store: a temporary condition for the operator
    # (``dangan reindex``), not a server fault, and the answer says nothing about any item.
    @app.exception_handler(IndexBusy)
    @app.exception_handler(IndexInconsistent)
    async def _index_unavailable(_: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"error": "the search index is being updated; try again shortly"}, status_code=503,
                            headers={"Retry-After": "5"})

    @app.exception_handler(HTTPException)
    async def _http(_: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse({"error": exc.detail}, status_code=exc.status_code)

    def search_filters(
        fonds: Annotated[list[str], Query()] = [],  # noqa: B006 (FastAPI reads the default, never mutates it)
        year_from: int | None = None,
        year_to: int | None = None,
        retention: Annotated[list[str], Query()] = [],  # noqa: B006
        kind: Annotated[list[str], Query(description="page or segment")] = [],  # noqa: B006
        open_status: Annotated[list[str], Query()] = [],  # noqa: B006
        batch: str | None = None,
    ) -> Filters:
        return Filters(tuple(fonds), year_from, year_to, tuple(retention), tuple(kind), tuple(open_status), batch)

    QueryText = Annotated[str, Query(description="words (AND), OR, -word / NOT word, \"phrase\"", max_length=10_000)]
    SearchFilters = Annotated[Filters, Depends(search_filters)]

    def _search(req: SearchRequest):
        try:
            with open_store(settings.db_url) as store:
                return search(store, settings, req)
        except QueryError as exc:
            raise HTTPException(400, str(exc)) from None

    @app.get("/api/search", summary="Search pages and recording segments")
    def api_search(
        role: Role,
        q: QueryText,
        filters: SearchFilters,
        limit: Annotated[int, Query(ge=1, le=100)] = 20,
        offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
    ) -> dict:
        out = _search(SearchRequest(q, role, filters, limit, offset)).as_dict(api=True)
        for hit in out["hits"]:
            for key in ("image_url", "audio_url"):
                if key in hit:
                    hit[key] = signed(hit[key], role)
        return out

    @app.get("/api/search.csv", summary="Search results as a CSV table (UTF-8 with BOM)",
             response_class=PlainTextResponse)
    def api_search_csv(
        role: Role,
        q: QueryText,
        filters: SearchFilters,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
    ) -> PlainTextResponse:
        table = hits_csv(_search(SearchRequest(q, role, filters, limit, offset)))
        return PlainTextResponse(table, media_type="text/csv; charset=utf-8",
                                 headers={"Content-Disposition": "attachment; filename=\"dangan-search.csv\""})

    @app.get("/api/suggest", summary="How visible text continues what was typed (for the search box)")
    def api_suggest(
        role: Role,
        q: Annotated[str, Query(max_length=200)],
        limit: Annotated[int, Query(ge=1, le=20)] = 8,
    ) -> dict:
        try:
            with open_store(settings.db_url) as store:
                return {"q": q, "suggestions": suggest(store, settings, role, q, limit)}
        except QueryError as exc:
            raise HTTPException(400, str(exc)) from None

    def _visible(role: str, refcode: str, page_no: int | None = None) -> dict:
        with open_store(settings.db_url) as store:
            found = page_detail(store, settings, role, refcode, page_no)
        if found is None:
            raise HTTPException(404, "no such item or page")
        return found

    @app.get("/api/items/{refcode}", summary="An item, its recordings and their transcript")
    def api_item(role: Role, refcode: str) -> dict:
        found = _visible(role, refcode)
        for r in found["recordings"]:
            r.pop("audio_copy")
            r["audio_url"] = signed(f"/api/items/{refcode}/recordings/{r['part']}/audio", role)
        return found

    @app.get("/api/items/{refcode}/pages/{page_no}", summary="A page's lines with their boxes")
    def api_page(role: Role, refcode: str, page_no: int) -> dict:
        found = _visible(role, refcode, page_no)
        found.pop("image_path", None)
        return found

    @app.get("/api/items/{refcode}/pages/{page_no}/image", summary="The page's access image (JPEG)")
    def api_page_image(role: Role, refcode: str, page_no: int) -> FileResponse:
        return _file(_visible(role, refcode, page_no).get("image_path"))

    @app.get("/api/items/{refcode}/recordings/{part}/audio", summary="A recording's 16 kHz access copy")
    def api_audio(role: Role, refcode: str, part: int) -> FileResponse:
        found = _visible(role, refcode)
        recordings = {r["part"]: r for r in found.get("recordings", [])}
        if part not in recordings:
            raise HTTPException(404, "no such recording")
        return _file(recordings[part]["audio_copy"])

    def _file(path: str | None) -> FileResponse:
        # Only paths the store recorded under the output tree are ever served.
        if not path:
            raise HTTPException(404, "no access copy")
        p = Path(path).resolve()
        if settings.out_dir.resolve() not in p.parents or not p.is_file():
            raise HTTPException(404, "no access copy")
        return FileResponse(p, media_type=mimetypes.guess_type(p.name)[0] or "application/octet-stream")

    @app.get("/", include_in_schema=False)
    def index() -> HTMLResponse:
        return HTMLResponse((STATIC / "index.html").read_text(encoding="utf-8"))

    @app.get("/api", include_in_schema=False)
    def api_docs() -> HTMLResponse:
        return HTMLResponse((STATIC / "api.html").read_text(encoding="utf-8"))

    return app
