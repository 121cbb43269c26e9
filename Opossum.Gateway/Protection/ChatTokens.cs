using System.Runtime.CompilerServices;
using Opossum.Gateway.Chat;
using Opossum.Grains;

namespace Opossum.Gateway.Protection;

/// <summary>
/// What one admitted chat costs against its client's daily token budget, settled once when the chat ends, whichever
/// way: the tokens the backend reported for a generated answer, none for a cached one; otherwise (the client left,
/// the answer was cut, the backend reported no count) an estimate of what was generated for it: its message and the
/// answer's characters received so far, a token per <see cref="CharactersPerToken"/>. A chat that failed before any
/// of its answer arrived costs nothing. Until it settles, the chat holds its reservation in the client's grain.
/// </summary>
public sealed class ChatTokens
{
    /// <summary>Characters counted as one token where no backend reported a count (about right for English text).</summary>
    public const int CharactersPerToken = 4;

    /// <summary>A chat admitted without a token budget: nothing to settle.</summary>
    public static readonly ChatTokens Uncounted = new(null, null, default, 0, CancellationToken.None);

    private readonly ClientLimiter? _limiter;
    private readonly Caller? _caller;
    private readonly Guid _reservation;
    private readonly int _prompt;
    private readonly CancellationToken _request;
    private int _received;
    private bool _settled;

    internal ChatTokens(ClientLimiter? limiter, Caller? caller, Guid reservation, int prompt, CancellationToken request)
    {
        _limiter = limiter;
        _caller = caller;
        _reservation = reservation;
        _prompt = prompt;
        _request = request;
    }

    public static int Estimate(int characters) => (characters + CharactersPerToken - 1) / CharactersPerToken;

    /// <summary>The reply of a chat, its tokens settled before it is given out or the call's failure is.</summary>
    public async Task<ChatReply> CountAsync(Task<ChatReply> chat)
    {
        if (_limiter is null) return await chat;
        var used = 0;
        try
        {
            var reply = await chat;
            used = Used(reply.Cached, reply.TokensUsed, reply.Message.Length);
            return reply;
        }
        catch (Exception ex) when (ex is OperationCanceledException || _request.IsCancellationRequested)
        {
            used = _prompt; // the client left: the backend had the prompt, and its answer went nowhere
            throw;
        }
        finally
        {
            await SettleAsync(used);
        }
    }

    /// <summary>The chunks of a streamed chat as they come; its tokens settle before the last chunk goes out, or when the stream ends without it.</summary>
    public IAsyncEnumerable<ReplyChunk> Count(IAsyncEnumerable<ReplyChunk> chunks) => _limiter is null ? chunks : CountAsync(chunks);

    private async IAsyncEnumerable<ReplyChunk> CountAsync(IAsyncEnumerable<ReplyChunk> chunks, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var failed = false;
        try
        {
            await using var reader = chunks.GetAsyncEnumerator(cancellationToken);
            while (true)
            {
                try
                {
                    if (!await reader.MoveNextAsync()) break;
                }
                catch (Exception ex) when (ex is not OperationCanceledException && !_request.IsCancellationRequested)
                {
                    failed = true;
                    throw;
                }
                var chunk = reader.Current;
                if (chunk.Reply is { } reply)
                    await SettleAsync(Used(reply.Cached, reply.TokensUsed, reply.Message.Length));
                else
                    _received += chunk.Delta.Length;
                yield return chunk;
            }
        }
        finally
        {
            // Runs also when the client leaves between chunks (the enumerator is disposed) or while one is awaited.
            if (!_settled)
                await SettleAsync(failed && _received == 0 ? 0 : _prompt + Estimate(_received));
        }
    }

    private int Used(bool cached, int? reported, int answerCharacters) =>
        cached ? 0 : reported ?? _prompt + Estimate(answerCharacters);

    // The grain call takes no token: a chat whose request was cancelled must still settle.
    private async Task SettleAsync(int tokens)
    {
        if (_settled) return;
        _settled = true;
        await _limiter!.SettleAsync(_caller!, _reservation, tokens);
    }
}
