using GruService.Engine;

namespace GruService.Api.Models;

/// <summary>
/// One fully loaded, immutable model version. The registry swaps whole instances, so a request that took one
/// finishes on it even if another version is activated meanwhile.
/// </summary>
public sealed class ServedModel
{
    public ServedModel(string name, StoredVersion stored, GruModel model)
    {
        Name = name;
        Stored = stored;
        Model = model;
        // Weights are packed on load; one tiny pass now keeps JIT compilation out of the version's first request.
        model.WarmUp();
    }

    public string Name { get; }
    public int Version => Stored.Version;
    public StoredVersion Stored { get; }
    public GruModel Model { get; }
    public GruTask Task => Model.Config.Task;
    public string TaskName => GruTaskNames.NameOf(Task);

    public ModelCard Card() => ModelCard.From(this);
}
