using GruService.Engine;

namespace GruService.Api.Models;

/// <summary>
/// One fully loaded, immutable model version. The registry swaps whole instances, so a request that took one
/// finishes on it even if another version is activated meanwhile.
/// </summary>
public sealed class ServedModel(string name, StoredVersion stored, GruModel model)
{
    public string Name { get; } = name;
    public int Version => Stored.Version;
    public StoredVersion Stored { get; } = stored;
    public GruModel Model { get; } = model;
    public GruTask Task => Model.Config.Task;
    public string TaskName => Model.Config.Task == GruTask.Forecast ? "forecast" : "classify";

    public ModelCard Card() => ModelCard.From(this);
}
