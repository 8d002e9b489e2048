"""StreamConversation's rules (the servicer only translates): start, turns, end.

After each turn the stream yields the risk alerts it raised, the coaching prompts on the
agent's words (coaching.py), then the turn's acknowledgement; after `end`, the evaluation.
A `live` start stores every turn before acknowledging it (live.py) and so can be resumed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace

from kefu_common.clock import Clock
from kefu_common.db import Database
from kefu_common.errors import InvalidArgument
from kefu_scoring import live, rulesets, service
from kefu_scoring.coaching import Coach
from kefu_scoring.engine import Hit, compile_ruleset
from kefu_scoring.models import Evaluation
from kefu_scoring.rules import Ruleset
from kefu_scoring.signals import Signal


@dataclass(frozen=True)
class Started:
    stored: int
    resumed: bool


@dataclass(frozen=True)
class Alert:
    hit: Hit
    signal: Signal
    signal_id: str  # "" when not queued (no ticket)


@dataclass(frozen=True)
class Coaching:
    hit: Hit
    name: str


@dataclass(frozen=True)
class Ack:
    turn_index: int
    seq: int
    duplicate: bool
    emotion: service.TurnEmotion | None


@dataclass(frozen=True)
class Ended:
    evaluation: Evaluation


Event = Started | Alert | Coaching | Ack | Ended
Item = tuple[str, object, int]  # ("start", Conversation, live 0/1) | ("turn", Turn, seq) | ("end", None, 0)


class StreamSession:
    def __init__(
        self,
        db: Database,
        builtin: Ruleset,
        clock: Clock,
        score: Callable[[service.Conversation], Awaitable[Evaluation]],
        on_signals: Callable[[], None] | None,
    ) -> None:
        self.db, self.builtin, self.clock, self.score, self.on_signals = db, builtin, clock, score, on_signals
        self.conversation: service.Conversation | None = None
        self.live = False
        self.turns: list[service.Turn] = []

    async def run(self, items: AsyncIterator[Item]) -> AsyncIterator[Event]:
        async for kind, value, number in items:
            if kind == "start":
                if self.conversation is not None:
                    raise InvalidArgument("start was already sent", code="stream_already_started")
                assert isinstance(value, service.Conversation)
                started = await self._start(value, persist=bool(number))
                if started is not None:
                    yield started
            elif self.conversation is None:
                raise InvalidArgument("the first message of a stream must be start", code="stream_not_started")
            elif kind == "turn":
                assert isinstance(value, service.Turn)
                async for event in self._turn(value, number):
                    yield event
            elif kind == "end":
                yield await self._end()
                return
            else:
                raise InvalidArgument("empty stream message", code="invalid_stream_message")
        if self.conversation is not None:
            raise InvalidArgument("the stream ended without end", code="stream_not_ended")

    async def _start(self, conversation: service.Conversation, *, persist: bool) -> Started | None:
        async with self.db.session() as session:  # the active ruleset at the stream's start
            ruleset, _ = await rulesets.active(session, builtin=self.builtin)
            opened = None
            if persist:
                opened = await live.open_conversation(session, conversation=conversation, now=self.clock.now())
                conversation = opened.conversation
                self.turns = await live.stored_turns(session, conversation.conversation_id)
        self.compiled = compile_ruleset(ruleset)
        self.coach = Coach(ruleset)
        self.conversation, self.live = conversation, persist
        return Started(opened.stored, opened.resumed) if opened is not None else None

    async def _turn(self, turn: service.Turn, seq: int) -> AsyncIterator[Event]:
        conversation = self.conversation
        assert conversation is not None
        index = len(self.turns)
        if seq and self.live and seq <= index:  # a resent turn: acknowledged, never scored twice
            async with self.db.session() as session:
                await live.check_stored(session, conversation.conversation_id, seq, turn)
            yield Ack(seq - 1, seq, True, None)
            return
        if index >= service.MAX_TURNS:
            raise InvalidArgument(f"a stream holds at most {service.MAX_TURNS} turns", code="too_many_turns")
        seq = seq or index + 1
        outcome = service.realtime_turn(compiled=self.compiled, conversation=conversation, turn=turn, index=index)
        prompts = self.coach.on_turn([*self.turns, turn], index)
        queued: dict[str, str] = {}
        if self.live:  # the turn, and its signals, stored in one transaction before the ack
            async with self.db.session() as session:
                stored = await live.store(session, conversation.conversation_id, seq, turn, now=self.clock.now())
                if stored:
                    queued = await service.queue_turn_signals(
                        session, conversation=conversation, outcome=outcome, clock=self.clock)
            if not stored:  # another connection of this conversation stored it meanwhile
                self.turns.append(turn)
                yield Ack(index, seq, True, None)
                return
        elif seq != index + 1:
            raise InvalidArgument("seq is for live streams only", code="invalid_seq")
        elif conversation.ticket_id and outcome.raised:  # a transaction only when needed
            async with self.db.session() as session:
                queued = await service.queue_turn_signals(
                    session, conversation=conversation, outcome=outcome, clock=self.clock)
        if queued and self.on_signals:
            self.on_signals()
        service.log_alerts(conversation, outcome, queued)
        self.turns.append(turn)
        for hit, signal in outcome.alerts:
            yield Alert(hit, signal, queued.get(signal.kind, ""))
        for hit in prompts:  # masked by the coach
            yield Coaching(hit, self.coach.rules[hit.rule_id].name)
        yield Ack(index, seq, False, outcome.emotion)

    async def _end(self) -> Ended:
        conversation = self.conversation
        assert conversation is not None
        evaluation = await self.score(replace(conversation, turns=tuple(self.turns)))
        if self.live:
            async with self.db.session() as session:
                await live.end(session, conversation.conversation_id, evaluation.id, now=self.clock.now())
        return Ended(evaluation)

