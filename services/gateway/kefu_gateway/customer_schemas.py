"""Bodies of the customer app's own actions on its cases (routes/customer.py): open a case, add
a message, confirm or dispute a resolution. Reads (`CasePublic`, `CaseProgress`) live in
schemas.py beside the staff ticket they are views of."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from kefu_common.timestamps import UtcDateTime
from kefu_gateway.schemas import _CATEGORY_HELP, _CATEGORY_PATTERN, Strict

# Where a customer writes from: the app itself, or the app's web and WeChat front ends.
CaseChannel = Literal["app", "web", "wechat"]


class CaseCreate(Strict):
    category: str = Field(min_length=1, max_length=64, pattern=_CATEGORY_PATTERN, description=_CATEGORY_HELP)
    subject: str = Field(min_length=1, max_length=200, examples=["电视开机黑屏"])
    description: str = Field(default="", max_length=4000)
    channel: CaseChannel = "app"
    open_new: bool = Field(
        default=False,
        description="Open a new case even when a recently resolved case of the same category "
        "exists (without it, such a case is proposed instead: 409 `reopen_suggested`)",
    )


class ReopenSuggestion(BaseModel):
    """A recently resolved case of the same category: reopen it (`/dispute`) instead."""

    id: str
    number: int
    subject: str
    status: str
    resolved_at: UtcDateTime | None


class CaseMessageCreate(Strict):
    text: str = Field(min_length=1, max_length=2000, examples=["师傅说明天上午来，可以改到下午吗？"])
    photo_description: str = Field(
        default="", max_length=1000,
        description="What an attached photo shows (the app's own upload holds the file)",
    )


class CaseMessagePublic(BaseModel):
    id: str
    case_id: str
    text: str
    sent_at: UtcDateTime


class CaseDispute(Strict):
    reason: str = Field(min_length=1, max_length=1000, examples=["问题没有解决，电视还是黑屏"])


