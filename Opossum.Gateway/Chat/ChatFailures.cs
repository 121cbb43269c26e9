using Opossum.Grains;
using Opossum.Grains.Storage;

namespace Opossum.Gateway.Chat;

/// <summary>
/// What any door tells its client about a failure, as an <see cref="OpossumException"/> with a code: a known one as it is
/// (storage's found inside the cluster's), the cluster not answering as BACKEND_UNAVAILABLE, a cancelled request as
/// CANCELLED, anything else as INTERNAL_SERVER_ERROR in words that leak nothing (logged with its details). Each door
/// shapes the result in its protocol.
/// </summary>
public sealed class ChatFailures(ILogger<ChatFailures> logger)
{
    public OpossumException Classify(Exception exception, string? where = null)
    {
        switch (StorageFailures.Find(exception) ?? exception)
        {
            case OpossumException known:
                return known;
            case TimeoutException:
                return new OpossumException(ErrorCodes.BackendUnavailable, "The cluster did not answer in time; try again.");
            case OrleansException orleans:
                logger.LogWarning(orleans, "Cluster call failed");
                return new OpossumException(ErrorCodes.BackendUnavailable, "The cluster is not reachable right now; try again.");
            case OperationCanceledException:
                return new OpossumException(ErrorCodes.Cancelled, "The request was cancelled.");
            default:
                logger.LogError(exception, "Unhandled error in {Where}", where ?? "a request");
                return new OpossumException(ErrorCodes.Internal, "Internal error; the server log has the details under this request's trace id.");
        }
    }
}
