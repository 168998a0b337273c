/**
 * Control API actions of rooms. `CreateJoinToken` is how an app server lets one
 * of its users into a room: { RoomId, UserId, Role: "user" | "human-agent",
 * TtlSeconds (1..86400, default 3600), AgentInstanceId (human-agent only) } →
 * { Token, ExpiresAt, SignalingUrl, PageUrl }.
 */
import { signToken } from '../auth/tokens';
import { ID_PATTERN, num, oneOf, str } from '../agent/agentConfig';
import { InvalidParameterError } from '../errors';
import type { AgentManager } from '../agent/agentManager';
import type { ControlApi } from '../server/controlApi';

export const MAX_TOKEN_TTL = 86400;

export function registerRoomActions(api: ControlApi, deps: { agents: AgentManager; tokenSecret: string; publicUrl: () => string }): void {
  api.register('CreateJoinToken', (body) => {
    const roomId = str(body.RoomId, 'RoomId', { required: true, max: 128, pattern: ID_PATTERN })!;
    const uid = str(body.UserId, 'UserId', { required: true, max: 128, pattern: ID_PATTERN })!;
    const role = oneOf(body.Role, 'Role', ['user', 'human-agent'] as const, 'user');
    const ttl = num(body.TtlSeconds, 'TtlSeconds', 1, MAX_TOKEN_TTL, { integer: true }) ?? 3600;
    let agent: string | undefined;
    if (role === 'human-agent') {
      const s = deps.agents.find({ AgentInstanceId: body.AgentInstanceId });
      if (s.config.roomId !== roomId) throw new InvalidParameterError('InvalidParameter.AgentInstanceId', 'the agent is in another room');
      agent = s.id;
    }
    const token = signToken(deps.tokenSecret, { room: roomId, uid, role, ...(agent ? { agent } : {}) }, ttl);
    const base = deps.publicUrl();
    return {
      Token: token,
      RoomId: roomId,
      UserId: uid,
      Role: role,
      ExpiresAt: new Date(Date.now() + ttl * 1000).toISOString(),
      SignalingUrl: `${base.replace(/^http/, 'ws')}/ws`,
      PageUrl: `${base}/room/?room=${encodeURIComponent(roomId)}`,
    };
  });
}
