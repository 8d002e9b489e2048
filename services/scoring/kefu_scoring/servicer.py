"""gRPC face of the scoring service: translate only, rules live in service.py."""

from __future__ import annotations

import json
from datetime import timedelta
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
from sqlmodel.ext.asyncio.session import AsyncSession

from kefu.common.v1 import types_pb2
from kefu.scoring.v1 import scoring_pb2, scoring_pb2_grpc
from kefu_common.clock import Clock
from kefu_common.db import Database
from kefu_common.errors import InvalidArgument
from kefu_common.protoconv import enum_to_str, from_timestamp, plan_from_range, str_to_enum, to_timestamp
from kefu_scoring import realtime, reports, review, review_queue, rule_quality, rulesets, service, voc
from kefu_scoring.engine import compile_ruleset
from kefu_scoring.models import Appeal, Evaluation, PublishedRuleset, RulesetActivation
from kefu_scoring.rules import Ruleset


class ScoringServicer(scoring_pb2_grpc.ScoringServiceServicer):
    def __init__(
        self,
        db: Database,
        ruleset: Ruleset,
        clock: Clock,
        *,
        on_signals: Callable[[], None] | None = None,
    ) -> None:
        self.db = db
        self.ruleset = ruleset
        self.compiled = compile_ruleset(ruleset)  # the built-in one, once, at start-up
        self.scripts = voc.script_phrases(ruleset)
        self.clock = clock
        self.on_signals = on_signals

    async def _score(
        self, conversation: service.Conversation, ruleset_id: str = "", ruleset_version: int = 0
    ) -> Evaluation:
        async def write(session: AsyncSession) -> Evaluation:
            if ruleset_id:
                ruleset = await rulesets.resolve(session, ruleset_id=ruleset_id, version=ruleset_version,
                                                 builtin=self.ruleset)
            else:
                ruleset, _ = await rulesets.active(session, builtin=self.ruleset)
            return await service.score_conversation(
                session, ruleset=ruleset, conversation=conversation, clock=self.clock
            )

        evaluation = await self.db.idempotent(
            write,
            lambda session: service.find_stored(session, conversation=conversation),
        )
        if evaluation.signal_ids and self.on_signals:
            self.on_signals()
        return evaluation

    async def _reviewed(self, evaluation: Evaluation) -> review.Reviewed:
        async with self.db.session() as session:
            card = await review.scorecard_of(session, evaluation, self.ruleset)
            return await review.reviewed(session, evaluation, card)

    async def ScoreConversation(
        self, request: scoring_pb2.ScoreConversationRequest, context: grpc.aio.ServicerContext
    ) -> scoring_pb2.Evaluation:
        conversation = service.Conversation(
            request_id=request.request_id,
            conversation_id=request.conversation_id,
            ticket_id=request.ticket_id,
            agent_id=request.agent_id,
            turns=tuple(_turn(t) for t in request.turns),
            ruleset=f"{request.ruleset_id}@{request.ruleset_version}" if request.ruleset_id else "",
            category=request.category,
            channel=request.channel,
            team=request.team,
            product=request.product,
            started_at=from_timestamp(request.started_at) if request.HasField("started_at") else None,
        )
        evaluation = await self._score(conversation, request.ruleset_id, request.ruleset_version)
        return _evaluation_pb(await self._reviewed(evaluation))

    async def PublishRuleset(
        self, request: scoring_pb2.PublishRulesetRequest, context: grpc.aio.ServicerContext
    ) -> scoring_pb2.RulesetVersion:
        async with self.db.session() as session:
            row = await rulesets.publish(
                session,
                document=request.document,
                published_by=request.published_by,
                reserved_id=self.ruleset.id,
            )
        return _ruleset_pb(row)

    async def GetRuleset(
        self, request: scoring_pb2.GetRulesetRequest, context: grpc.aio.ServicerContext
    ) -> scoring_pb2.RulesetVersion:
        async with self.db.session() as session:
            row = await rulesets.get(session, ruleset_id=request.id, version=request.version, builtin=self.ruleset)
        return self._ruleset_pb(row)

    async def ListRulesets(
        self, request: scoring_pb2.ListRulesetsRequest, context: grpc.aio.ServicerContext
    ) -> scoring_pb2.ListRulesetsResponse:
        async with self.db.session() as session:
            rows = await rulesets.list_latest(session, builtin=self.ruleset)
        return scoring_pb2.ListRulesetsResponse(rulesets=[self._ruleset_pb(r) for r in rows])

    async def GetActiveRuleset(
        self, request: scoring_pb2.GetActiveRulesetRequest, context: grpc.aio.ServicerContext
    ) -> scoring_pb2.ActiveRuleset:
        async with self.db.session() as session:
            ruleset, activation = await rulesets.active(session, builtin=self.ruleset)
            row = await rulesets.get(session, ruleset_id=ruleset.id, version=ruleset.version, builtin=self.ruleset)
        return self._active_pb(row, activation)

    async def ActivateRuleset(
        self, request: scoring_pb2.ActivateRulesetRequest, context: grpc.aio.ServicerContext
    ) -> scoring_pb2.ActiveRuleset:
        async with self.db.session() as session:
            ruleset, activation = await rulesets.activate(
                session, ruleset_id=request.ruleset_id, version=request.version,
                activated_by=request.activated_by, builtin=self.ruleset, now=self.clock.now())
            row = await rulesets.get(session, ruleset_id=ruleset.id, version=ruleset.version, builtin=self.ruleset)
        return self._active_pb(row, activation)

    def _ruleset_pb(self, row: PublishedRuleset) -> scoring_pb2.RulesetVersion:
        return _ruleset_pb(row, builtin=row.id == self.ruleset.id)

    def _active_pb(self, row: PublishedRuleset, activation: RulesetActivation | None) -> scoring_pb2.ActiveRuleset:
        if activation is None:
            return scoring_pb2.ActiveRuleset(ruleset=self._ruleset_pb(row))
        return scoring_pb2.ActiveRuleset(
            ruleset=self._ruleset_pb(row), activation=activation.id or 0, activated_by=activation.activated_by,
            activated_at=to_timestamp(activation.activated_at))

    async def GetEvaluation(
        self, request: scoring_pb2.GetEvaluationRequest, context: grpc.aio.ServicerContext
    ) -> scoring_pb2.Evaluation:
        async with self.db.session() as session:
            evaluation = await service.get_evaluation(session, request.id)
        return _evaluation_pb(await self._reviewed(evaluation))

    async def ReviewHit(
        self, request: scoring_pb2.ReviewHitRequest, context: grpc.aio.ServicerContext
    ) -> scoring_pb2.Evaluation:
        async with self.db.session() as session:
            evaluation = await service.get_evaluation(session, request.evaluation_id)
            result = await review.review_hit(
                session,
                evaluation_id=request.evaluation_id,
                hit_index=request.hit_index,
                decision=request.decision,
                reviewer=request.reviewer,
                note=request.note,
                clock=self.clock,
                scorecard=await review.scorecard_of(session, evaluation, self.ruleset),
            )
        return _evaluation_pb(result)

    async def GetQaSeries(
        self, request: scoring_pb2.GetQaSeriesRequest, context: grpc.aio.ServicerContext
    ) -> scoring_pb2.GetQaSeriesResponse:
        plan = plan_from_range(request.range)
        kinds = {
            scoring_pb2.QA_REPORT_UNSPECIFIED: reports.QaReport.SCORES,
            scoring_pb2.QA_REPORT_SCORES: reports.QaReport.SCORES,
            scoring_pb2.QA_REPORT_DISTRIBUTION: reports.QaReport.DISTRIBUTION,
            scoring_pb2.QA_REPORT_RULE_HITS: reports.QaReport.RULE_HITS,
        }
        if request.report not in kinds:
            raise InvalidArgument("unknown report", code="invalid_argument")
        async with self.db.session() as session:
            rows = await reports.qa_series(
                session, plan, report=kinds[request.report], group_by=request.group_by,
                bin_width=request.bin_width or 10,
            )
        return scoring_pb2.GetQaSeriesResponse(rows=[
            scoring_pb2.QaFigures(
                key=types_pb2.SeriesKey(group=f.group, bucket=f.bucket, previous=f.previous),
                evaluations=f.evaluations, score_mean=f.score_mean, fatal=f.fatal,
                grade_a=f.grade_a, grade_b=f.grade_b, grade_c=f.grade_c, grade_d=f.grade_d,
                bin_start=f.bin_start, hits=f.hits, evaluations_hit=f.evaluations_hit,
                satisfaction_mean=f.satisfaction_mean, predicted_satisfied=f.predicted_satisfied,
                predicted_detractors=f.predicted_detractors,
            )
            for f in rows
        ])

    async def GetVoiceOfCustomer(
        self, request: scoring_pb2.GetVoiceOfCustomerRequest, context: grpc.aio.ServicerContext
    ) -> scoring_pb2.VoiceOfCustomer:
        if request.HasField("range"):
            plan = plan_from_range(request.range)
        else:  # the old instants: widened to the whole local days that cover them
            end = from_timestamp(request.end) if request.HasField("end") else self.clock.now()
            start = from_timestamp(request.start) if request.HasField("start") else end - timedelta(days=7)
            if end <= start or end - start > timedelta(days=366):
                raise InvalidArgument(
                    "the period must be non-empty and at most 366 days", code="invalid_period"
                )
            plan = voc.plan_of_instants(start, end)
        given = request.HasField("range")  # with a range, 0 means 0 (no baseline, no quotes)
        query = voc.Query(
            plan=plan,
            baseline_days=request.baseline_days if given else request.baseline_days or 28,
            category=request.category,
            channel=request.channel,
            product=request.product,
            group_by=request.group_by or "none",
            limit=request.limit or 20,
            examples=request.examples if given else request.examples or 3,
        )
        async with self.db.session() as session:
            found = await voc.report(session, query, scripts=self.scripts)
        return _voice_pb(found)

    async def FileAppeal(
        self, request: scoring_pb2.FileAppealRequest, context: grpc.aio.ServicerContext
    ) -> scoring_pb2.Appeal:
        async with self.db.session() as session:
            appeal = await review.file_appeal(
                session, evaluation_id=request.evaluation_id, hit_index=request.hit_index,
                appellant=request.appellant, reason=request.reason, clock=self.clock,
            )
        return _appeal_pb(appeal)

    async def DecideAppeal(
        self, request: scoring_pb2.DecideAppealRequest, context: grpc.aio.ServicerContext
    ) -> scoring_pb2.Appeal:
        async with self.db.session() as session:
            appeal = await review.decide_appeal(
                session, appeal_id=request.appeal_id, outcome=request.outcome,
                decided_by=request.decided_by, note=request.note, clock=self.clock,
            )
        return _appeal_pb(appeal)

    async def GetReviewAgreement(
        self, request: scoring_pb2.GetReviewAgreementRequest, context: grpc.aio.ServicerContext
    ) -> scoring_pb2.ReviewAgreement:
        async with self.db.session() as session:
            rows = await rule_quality.rule_quality(session, ruleset_id=request.ruleset_id)
        return scoring_pb2.ReviewAgreement(
            rules=[
                scoring_pb2.ReviewAgreement.Rule(
                    rule_id=r.rule_id, reviewed=r.agreement.reviewed, confirmed=r.agreement.confirmed,
                    overturned=r.agreement.overturned, agreement=r.agreement.agreement,
                    evaluations_hit=r.evaluations_hit, evaluations=r.evaluations, hit_rate=r.hit_rate,
                )
                for r in rows
            ]
        )

    async def ListEvaluations(
        self, request: scoring_pb2.ListEvaluationsRequest, context: grpc.aio.ServicerContext
    ) -> scoring_pb2.ListEvaluationsResponse:
        async with self.db.session() as session:
            page, token = await review_queue.list_evaluations(
                session, _filter(request.filter), page_size=request.page_size, page_token=request.page_token
            )
        return _summaries_pb(page, token)

    async def GetReviewQueue(
        self, request: scoring_pb2.GetReviewQueueRequest, context: grpc.aio.ServicerContext
    ) -> scoring_pb2.ListEvaluationsResponse:
        async with self.db.session() as session:
            page, token = await review_queue.review_queue(
                session, _filter(request.filter), share=request.share, seed=request.seed,
                page_size=request.page_size, page_token=request.page_token,
            )
        return _summaries_pb(page, token)

    async def ListAppeals(
        self, request: scoring_pb2.ListAppealsRequest, context: grpc.aio.ServicerContext
    ) -> scoring_pb2.ListAppealsResponse:
        async with self.db.session() as session:
            page, token = await review_queue.list_appeals(
                session, status=request.status, appellant=request.appellant,
                evaluation_id=request.evaluation_id, page_size=request.page_size,
                page_token=request.page_token,
            )
        return scoring_pb2.ListAppealsResponse(
            appeals=[
                scoring_pb2.AppealSummary(
                    appeal=_appeal_pb(a), ticket_id=a.ticket_id, agent_id=a.agent_id, team=a.team,
                    rule_id=a.rule_id,
                )
                for a in page
            ],
            next_page_token=token,
        )

    async def StreamConversation(
        self,
        request_iterator: AsyncIterator[scoring_pb2.StreamRequest],
        context: grpc.aio.ServicerContext,
    ) -> AsyncIterator[scoring_pb2.StreamEvent]:
        stream = realtime.StreamSession(self.db, self.ruleset, self.clock, self._score, self.on_signals)
        async for event in stream.run(_StreamItems(request_iterator)):
            if isinstance(event, realtime.Ended):
                yield scoring_pb2.StreamEvent(evaluation=_evaluation_pb(await self._reviewed(event.evaluation)))
            else:
                yield _stream_event_pb(event)


class _StreamItems:
    """The stream's requests as `realtime.Item`s: a plain async iterator, not a generator, so
    a stream that ends at `end` leaves no generator for the event loop to close later."""

    def __init__(self, requests: AsyncIterator[scoring_pb2.StreamRequest]) -> None:
        self.requests = requests.__aiter__()

    def __aiter__(self) -> _StreamItems:
        return self

    async def __anext__(self) -> realtime.Item:
        message = await self.requests.__anext__()
        item = message.WhichOneof("item")
        if item == "start":
            return "start", _stream_start(message.start), int(message.start.live)
        if item == "turn":
            return "turn", _turn(message.turn), message.seq
        return item or "", None, 0


def _stream_event_pb(event: realtime.Event) -> scoring_pb2.StreamEvent:
    if isinstance(event, realtime.Started):
        return scoring_pb2.StreamEvent(
            started=scoring_pb2.StreamStarted(stored_turns=event.stored, resumed=event.resumed)
        )
    if isinstance(event, realtime.Alert):
        hit = event.hit
        return scoring_pb2.StreamEvent(
            alert=scoring_pb2.Alert(
                rule_id=hit.rule_id, rule_version=hit.rule_version, kind=event.signal.kind,
                severity=hit.severity, turn_index=hit.turn_index, start=hit.start, end=hit.end,
                matched_text=hit.matched_text, signal_id=event.signal_id,
            )
        )
    if isinstance(event, realtime.Coaching):
        hit = event.hit
        return scoring_pb2.StreamEvent(
            coaching=scoring_pb2.Coaching(
                rule_id=hit.rule_id, rule_version=hit.rule_version, name=event.name, dimension=hit.dimension,
                severity=hit.severity, turn_index=hit.turn_index, start=hit.start, end=hit.end,
                matched_text=hit.matched_text,
            )
        )
    assert isinstance(event, realtime.Ack)
    ack = scoring_pb2.TurnAck(turn_index=event.turn_index, seq=event.seq, duplicate=event.duplicate)
    if event.emotion is not None:
        ack.emotion.CopyFrom(_turn_emotion_pb(event.emotion._asdict()))
    return scoring_pb2.StreamEvent(turn_ack=ack)


def _filter(f: scoring_pb2.EvaluationFilter) -> review_queue.EvaluationFilter:
    def optional(name: str) -> Any:
        return getattr(f, name) if f.HasField(name) else None

    return review_queue.EvaluationFilter(
        agent_id=f.agent_id, team=f.team, ruleset_id=f.ruleset_id, ruleset_version=f.ruleset_version,
        grades=tuple(f.grades), min_score=optional("min_score"), max_score=optional("max_score"),
        rule_id=f.rule_id, fatal=optional("fatal"),
        start=from_timestamp(f.start) if f.HasField("start") else None,
        end=from_timestamp(f.end) if f.HasField("end") else None,
        reviewed=optional("reviewed"), open_appeal=optional("open_appeal"),
    )


def _summary_pb(s: review_queue.Summary) -> scoring_pb2.EvaluationSummary:
    return scoring_pb2.EvaluationSummary(
        id=str(s.id), ticket_id=s.ticket_id, agent_id=s.agent_id, team=s.team, total_score=s.total_score,
        grade=s.grade, fatal=s.fatal, hit_count=s.hit_count, risk_flags=s.risk_flags, reviewed=s.reviewed,
        reviewed_hits=s.reviewed_hits, open_appeals=s.open_appeals, created_at=to_timestamp(s.created_at),
        conversation_id=s.conversation_id, ruleset_id=s.ruleset_id, ruleset_version=s.ruleset_version,
        category=s.category, channel=s.channel, reason=s.reason,
    )


def _summaries_pb(page: list[review_queue.Summary], token: str) -> scoring_pb2.ListEvaluationsResponse:
    return scoring_pb2.ListEvaluationsResponse(evaluations=[_summary_pb(s) for s in page], next_page_token=token)


def _voice_pb(found: voc.VoiceReport) -> scoring_pb2.VoiceOfCustomer:
    pb = scoring_pb2.VoiceOfCustomer

    def term_pb(t: voc.TermCount) -> scoring_pb2.VoiceOfCustomer.Term:
        return pb.Term(
            term=t.term, conversations=t.conversations,
            baseline_conversations=t.baseline_conversations, lift=t.lift, spike=t.spike,
        )

    return pb(
        conversations=found.conversations,
        baseline_conversations=found.baseline_conversations,
        terms=[term_pb(t) for t in found.terms],
        phrases=[term_pb(t) for t in found.phrases],
        start=to_timestamp(found.start),
        end=to_timestamp(found.end),
        reasons=[
            pb.Reason(
                group=r.group, rank=r.rank, label=r.label, phrases=r.phrases,
                conversations=r.conversations, mentions=r.mentions,
                previous_conversations=r.previous_conversations,
                baseline_conversations=r.baseline_conversations, lift=r.lift, spike=r.spike,
                buckets=[
                    pb.ReasonBucket(
                        bucket=b.bucket, conversations=b.conversations,
                        previous_conversations=b.previous_conversations, spike=b.spike,
                    )
                    for b in r.buckets
                ],
                examples=[
                    pb.Quote(
                        evaluation_id=q.evaluation_id, conversation_id=q.conversation_id,
                        started_at=to_timestamp(q.started_at), turn_index=q.turn_index, text=q.text,
                    )
                    for q in r.examples
                ],
            )
            for r in found.reasons
        ],
        groups=[
            pb.GroupTotal(
                group=g.group, conversations=g.conversations,
                previous_conversations=g.previous_conversations,
                baseline_conversations=g.baseline_conversations,
                bucket_conversations=g.bucket_conversations,
                bucket_previous_conversations=g.bucket_previous_conversations,
                boilerplate=g.boilerplate,
            )
            for g in found.groups
        ],
    )


def _appeal_pb(a: Appeal | review_queue.AppealRow) -> scoring_pb2.Appeal:
    return scoring_pb2.Appeal(
        id=str(a.id),
        evaluation_id=str(a.evaluation_id),
        hit_index=a.hit_index,
        appellant=a.appellant,
        reason=a.reason,
        status=a.status,
        decided_by=a.decided_by,
        decision_note=a.decision_note,
        created_at=to_timestamp(a.created_at),
        decided_at=to_timestamp(a.decided_at) if a.decided_at else None,
    )


def _ruleset_pb(row: PublishedRuleset, *, builtin: bool = False) -> scoring_pb2.RulesetVersion:
    return scoring_pb2.RulesetVersion(
        builtin=builtin,
        id=row.id,
        version=row.version,
        name=row.name,
        document=json.dumps(row.document, ensure_ascii=False),
        rule_count=row.rule_count,
        published_at=to_timestamp(row.published_at) if row.published_at else None,
        published_by=row.published_by,
    )


def _stream_start(start: scoring_pb2.StreamStart) -> service.Conversation:
    if not start.conversation_id:
        raise InvalidArgument(
            "start.conversation_id is required", code="invalid_conversation_id"
        )
    conversation = service.Conversation(
        request_id=start.request_id or f"stream:{start.conversation_id}",
        conversation_id=start.conversation_id,
        ticket_id=start.ticket_id,
        agent_id=start.agent_id,
        turns=(),
        category=start.category,
        channel=start.channel,
        team=start.team,
        product=start.product,
        started_at=from_timestamp(start.started_at) if start.HasField("started_at") else None,
    )
    service.validate_references(conversation)
    return conversation


def _turn(t: scoring_pb2.Turn) -> service.Turn:
    return service.Turn(
        role=enum_to_str(scoring_pb2.Role, t.role),
        text=t.text,
        start_ms=t.start_ms,
        end_ms=t.end_ms,
    )


def _turn_emotion_pb(d: dict[str, Any]) -> scoring_pb2.TurnEmotion:
    return scoring_pb2.TurnEmotion(
        turn_index=d["turn_index"],
        label=d["label"],
        intensity=d["intensity"],
        score=d["score"],
        cues=list(d["cues"]),
        model=d.get("model", 0.0),
    )


def _satisfaction_pb(d: dict[str, Any]) -> scoring_pb2.PredictedSatisfaction:
    return scoring_pb2.PredictedSatisfaction(
        score=d.get("score", 0.0),
        label=d.get("label", ""),
        turns=d.get("turns", 0),
        customer_turns=d.get("customer_turns", 0),
        factors=[
            scoring_pb2.SatisfactionFactor(
                factor=f["factor"], effect=f["effect"], detail=f["detail"],
                turn_index=-1 if f.get("turn_index") is None else f["turn_index"],
            )
            for f in d.get("factors", [])
        ],
    )


def _hit_pb(hit: dict[str, Any], decision: str) -> scoring_pb2.Hit:
    return scoring_pb2.Hit(
        rule_id=hit["rule_id"],
        rule_version=hit["rule_version"],
        dimension=hit["dimension"],
        turn_index=hit["turn_index"],
        start=hit["start"],
        end=hit["end"],
        matched_text=hit["matched_text"],
        points=hit["points"],
        severity=hit.get("severity", ""),
        fatal=hit.get("fatal", False),
        detail=hit.get("detail", ""),
        alert=hit.get("alert") or "",
        review=decision,
    )


def _stored_turn_pb(t: dict[str, Any]) -> scoring_pb2.Turn:
    """A stored (masked) transcript turn; a role the enum does not know stays unspecified."""
    try:
        role = str_to_enum(scoring_pb2.Role, t.get("role") or "unspecified")
    except ValueError:
        role = scoring_pb2.ROLE_UNSPECIFIED
    return scoring_pb2.Turn(
        role=role, text=t.get("text", ""), start_ms=t.get("start_ms") or 0, end_ms=t.get("end_ms") or 0
    )


def _evaluation_pb(reviewed: review.Reviewed) -> scoring_pb2.Evaluation:
    evaluation = reviewed.evaluation
    emotion = evaluation.emotion or {}
    peak = emotion.get("peak_negative")
    return scoring_pb2.Evaluation(
        id=str(evaluation.id),
        conversation_id=evaluation.conversation_id,
        ticket_id=evaluation.ticket_id,
        agent_id=evaluation.agent_id,
        ruleset_id=evaluation.ruleset_id,
        ruleset_version=evaluation.ruleset_version,
        total_score=evaluation.total_score,
        grade=evaluation.grade,
        hits=[_hit_pb(hit, reviewed.decisions.get(i, "")) for i, hit in enumerate(evaluation.hits)],
        created_at=to_timestamp(evaluation.created_at) if evaluation.created_at else None,
        started_at=to_timestamp(evaluation.started_at) if evaluation.started_at else None,
        product=evaluation.product,
        category=evaluation.category,
        channel=evaluation.channel,
        dimensions=[scoring_pb2.DimensionScore(**d) for d in evaluation.dimensions],
        fatal=evaluation.fatal,
        not_applicable=evaluation.not_applicable,
        emotion=scoring_pb2.Emotion(
            turns=[_turn_emotion_pb(t) for t in emotion.get("turns", [])],
            trend=emotion.get("trend", "none"),
            start=emotion.get("start", 0.0),
            end=emotion.get("end", 0.0),
            overall=emotion.get("overall", "neutral"),
            peak_negative=-1 if peak is None else peak,
        ),
        language=evaluation.language,
        risk_flags=evaluation.risk_flags,
        signal_ids=evaluation.signal_ids,
        team=evaluation.team,
        final_score=reviewed.final_score,
        final_grade=reviewed.final_grade,
        satisfaction=_satisfaction_pb(evaluation.satisfaction or {}),
        reviews=[
            scoring_pb2.HitReview(
                hit_index=r.hit_index, decision=r.decision, reviewer=r.reviewer, note=r.note,
                created_at=to_timestamp(r.created_at),
            )
            for r in reviewed.trail
        ],
        turns=[_stored_turn_pb(t) for t in evaluation.turns],
    )
