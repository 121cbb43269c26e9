using System.Diagnostics;

namespace Opossum.Grains.Telemetry;

/// <summary>
/// Work a request hands off keeps the request's trace: the W3C <c>traceparent</c> is captured when
/// the work is handed off and the background span is started as its child, even though the
/// execution context (and with it <see cref="Activity.Current"/>) does not flow.
/// </summary>
public static class BackgroundWork
{
    /// <summary>The current trace context as a W3C <c>traceparent</c>, or null outside a trace.</summary>
    public static string? CaptureTraceParent() =>
        Activity.Current is { IdFormat: ActivityIdFormat.W3C } current ? current.Id : null;

    /// <summary>Runs <paramref name="work"/> on the current task scheduler (a grain's, inside a grain) without flowing the caller's context.</summary>
    public static Task Run(string spanName, Func<Task> work)
    {
        var traceparent = CaptureTraceParent();
        using (ExecutionContext.SuppressFlow())
        {
            return Task.Factory.StartNew(async () =>
            {
                using var activity = StartChild(spanName, traceparent);
                try
                {
                    await work();
                }
                catch (Exception ex)
                {
                    activity.RecordFailure(ex);
                    throw;
                }
            }, CancellationToken.None, TaskCreationOptions.None, TaskScheduler.Current).Unwrap();
        }
    }

    /// <summary>A span whose parent is the handed-over <c>traceparent</c> (a root span when there is none).</summary>
    public static Activity? StartChild(string name, string? traceparent) =>
        traceparent is not null && ActivityContext.TryParse(traceparent, null, out var parent)
            ? OpossumTelemetry.Source.StartActivity(name, ActivityKind.Internal, parent)
            : OpossumTelemetry.Source.StartActivity(name, ActivityKind.Internal);
}
