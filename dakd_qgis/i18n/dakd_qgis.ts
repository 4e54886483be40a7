<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1">
<context>
    <name>DakdOilSpill</name>
    <message>
        <location filename="../models.py"/>
        <source>'{name}' cannot be a model name: use letters, digits, '-' and '_'</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../models.py"/>
        <source>'{name}' is the default model for detection: it is replaced only by a model that becomes the default too</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/finetune_dialog.py"/>
        <source>(no value)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../detection.py"/>
        <source>1 look-alike</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../detection.py"/>
        <source>1 oil spill, {area} km², {device}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../detection.py"/>
        <source>1 ship</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../algorithms/detect.py"/>
        <source>&lt;b&gt;Band&lt;/b&gt;: the band to analyse; empty takes the only band, or the one named VV. With a Sentinel-1 product the number counts the product's polarisations as its manifest lists them, whatever the list shows (that is the layer's): 1 = VV and 2 = VH in a VV+VH (1SDV) product. &lt;b&gt;Input units&lt;/b&gt;: &lt;i&gt;auto&lt;/i&gt; reads them from the file's metadata (and guesses from the value range when it has none); set them when you know better. An 8-bit picture (a display export, linear in dB) is &lt;i&gt;db-8bit&lt;/i&gt;: the model reads it, but no wind can be estimated from it.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../algorithms/finetune.py"/>
        <source>&lt;b&gt;Data-set folder&lt;/b&gt;: an Oil Spill Detection (OSD, Krestenitis et al.) or SOS data set laid out as published (images and label masks); its &lt;code&gt;train&lt;/code&gt; split is used.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../algorithms/detect.py"/>
        <source>&lt;b&gt;Device&lt;/b&gt;: &lt;i&gt;auto&lt;/i&gt; uses a CUDA GPU when torch sees one, else Apple's MPS where it has it, else the CPU; the log says which and why.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../algorithms/detect.py"/>
        <source>&lt;b&gt;Land mask&lt;/b&gt;: &lt;i&gt;auto&lt;/i&gt; ignores land from the global OpenStreetMap coastline (installed with the engine; without it the run goes on unmasked and the log says why); &lt;i&gt;none&lt;/i&gt; keeps every pixel; or choose your own &lt;b&gt;Land polygons&lt;/b&gt;. &lt;b&gt;Shoreline buffer&lt;/b&gt;: sea this close to land is ignored too (100 m by default). &lt;b&gt;Area of interest&lt;/b&gt;: an extent (e.g. the map canvas) or polygons (e.g. the selected features); only tiles inside are read, and an area outside the scene is refused.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../algorithms/detect.py"/>
        <source>&lt;b&gt;Model card&lt;/b&gt;: a SAROSS-Net model (.json with its .safetensors weights). Empty: the default model (Settings…), or the model shipped with the plugin. &lt;b&gt;Method&lt;/b&gt;: &lt;i&gt;auto&lt;/i&gt; uses the model when one is available and the classical adaptive-threshold detector otherwise; &lt;i&gt;threshold&lt;/i&gt; needs no model and only finds dark spots (oil and look-alikes are not told apart).</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../algorithms/finetune.py"/>
        <source>&lt;b&gt;Model card&lt;/b&gt;: where the new model is written (.json + .safetensors). With &lt;b&gt;Register and use for detection&lt;/b&gt; the model is also copied into the plugin's model list under the card's name (NAME-2, NAME-3… when a registered model has it: that one is never replaced) and becomes the default for Detect oil spills, unless the validation share is 0: a model measured on nothing is registered but not made the default.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../algorithms/detect.py"/>
        <source>&lt;b&gt;Oil spill polygons&lt;/b&gt;: one feature per connected region, with its class (oil, look-alike, ship), area and size in km, mean and maximum probability, a confidence letter, centroid, and the scene, detector and model it came from. &lt;b&gt;Class probabilities&lt;/b&gt; (may be skipped): one byte band per class (band names say which; oil is band 2), value = probability × 250, 255 = no data; it is shown as the oil probability from 0 to 1. &lt;b&gt;Classes&lt;/b&gt; (may be skipped): 0 sea, 1 oil, 2 look-alike, 3 ship, 4 land, 255 no data. The layers loaded at the end go into one group, polygons on top and the class raster unchecked. &lt;b&gt;Report&lt;/b&gt;: the run's one-page report (numbered quick-look, the table of polygons with their wind and possible source, the scene, model and caveats) as a self-contained HTML file in Processing's temporary folder; the Results Viewer lists it and opens it in the browser.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../algorithms/finetune.py"/>
        <source>&lt;b&gt;Preset&lt;/b&gt;: quick (one GPU, about half an hour), standard (hours), paper (about a day), CPU (about an hour on 2 CPU cores for a few thousand tiles), tiny (a few minutes on a CPU, to try the pipeline; the model is not useful). &lt;b&gt;Validation share&lt;/b&gt;: share of scenes kept aside to measure the model. Advanced: &lt;b&gt;SAROSS-Net steps&lt;/b&gt; and &lt;b&gt;SAR-JointNet steps&lt;/b&gt; override the preset, &lt;b&gt;augmentation ratio&lt;/b&gt; is the number of generated pairs per real tile (0 skips the diffusion model), &lt;b&gt;b&lt;/b&gt; is the balancing factor (empty: computed from the data; 1 turns it off). &lt;b&gt;Base model&lt;/b&gt;: start from this model card (its normalisation is kept).</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../algorithms/detect.py"/>
        <source>&lt;b&gt;SAR raster layer&lt;/b&gt;: a single-polarisation backscatter raster (VV is best), as linear sigma0, dB, or uncalibrated amplitude/intensity DN. A &lt;b&gt;Sentinel-1 product&lt;/b&gt; may be given instead: a GRD &lt;code&gt;.SAFE&lt;/code&gt; folder's &lt;code&gt;manifest.safe&lt;/code&gt; or the downloaded &lt;code&gt;.zip&lt;/code&gt;; it is calibrated to sigma0 on the fly, and used instead of the layer. Geographic rasters (EPSG:4326) are fine: areas are computed in metres.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../algorithms/finetune.py"/>
        <source>&lt;b&gt;SAR rasters&lt;/b&gt;: the scenes you labelled. &lt;b&gt;Label polygons&lt;/b&gt;: one layer for all scenes (reprojected as needed). &lt;b&gt;Class field&lt;/b&gt;: the attribute with each polygon's class: a class name (oil, look-alike, ship, land, sea), an id 0-4, or any value mapped in &lt;b&gt;Value mapping&lt;/b&gt;, e.g. &lt;code&gt;slick=oil, boat=ship, unsure=ignore&lt;/code&gt;. &lt;b&gt;Outside the polygons&lt;/b&gt;: sea, or &lt;i&gt;not oil&lt;/i&gt; when you outlined only the oil (the rest is trained as any class but oil, never as sea), or ignore when you checked only the outlined areas.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../algorithms/detect.py"/>
        <source>&lt;b&gt;Tile overlap&lt;/b&gt;: pixels shared by neighbouring 256×256 tiles; more overlap gives smoother seams and takes longer; it is raised automatically when the detector needs more context. &lt;b&gt;Minimum area&lt;/b&gt;: oil and look-alike regions smaller than this are dropped (km²; ships are kept from a few pixels). &lt;b&gt;Probability threshold&lt;/b&gt; (advanced): when set, a pixel only becomes oil, look-alike or ship if that class's probability reaches it; empty takes the most probable class. &lt;b&gt;Batch size&lt;/b&gt; (advanced): tiles per step; empty lets the detector choose, and a GPU that runs out of memory halves it by itself.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../algorithms/detect.py"/>
        <source>&lt;b&gt;Wind direction&lt;/b&gt; (optional): where the wind blows from, in degrees clockwise from north (e.g. from a weather model). With a Sentinel-1 product each slick then gets one wind speed instead of a range over all directions; a plain raster has no look direction, so there it is not used (the report says so). Empty: the range.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../algorithms/detect.py"/>
        <source>A Sentinel-1 GRD product, its manifest.safe or the downloaded .zip; used instead of the layer.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/models_dialog.py"/>
        <source>A model named '{name}' is already registered, and it is the default model for detection. Replace it with the imported card? Detection then uses the imported model.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/models_dialog.py"/>
        <source>A model named '{name}' is already registered. Replace it with the imported card?</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../algorithms/finetune.py"/>
        <source>A model named '{wanted}' is already registered and is kept: this one is registered as '{name}'.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/finetune_dialog.py"/>
        <source>A model named '{wanted}' was registered during the run and is kept; this one is '{name}'.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/finetune_dialog.py"/>
        <source>A name no registered model has: an earlier model is never replaced</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../algorithms/detect.py"/>
        <source>A {driver} file only points at other files, and this run's are temporary: {path} would point at nothing. Choose a .tif output.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../finetune.py"/>
        <source>Accuracy</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/finetune_dialog.py"/>
        <source>Advanced</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../wording.py"/>
        <source>Area of interest</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../algorithms/detect.py"/>
        <source>Area of interest (extent)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../algorithms/detect.py"/>
        <source>Area of interest (polygons)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../algorithms/finetune.py"/>
        <location filename="../dialogs/finetune_dialog.py"/>
        <location filename="../wording.py"/>
        <source>Augmentation ratio</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../algorithms/finetune.py"/>
        <location filename="../dialogs/finetune_dialog.py"/>
        <location filename="../wording.py"/>
        <source>Balancing factor b</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../algorithms/detect.py"/>
        <location filename="../wording.py"/>
        <source>Band</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../algorithms/finetune.py"/>
        <location filename="../dialogs/finetune_dialog.py"/>
        <location filename="../wording.py"/>
        <source>Base model</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../wording.py"/>
        <source>Batch size</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../algorithms/detect.py"/>
        <source>Batch size (tiles per step)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/widgets.py"/>
        <source>Browse…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/settings_dialog.py"/>
        <source>Bundled model (threshold if none is bundled)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/deps_dialog.py"/>
        <source>CPU only (a much smaller download)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../finetune.py"/>
        <source>CPU – about an hour on 2 CPU cores for a few thousand tiles (the default model's recipe)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/settings_dialog.py"/>
        <source>Cache folder</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../tasks.py"/>
        <source>Cancel</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../algorithms/detect.py"/>
        <source>Cancel stops the run within one batch of tiles and writes nothing.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../algorithms/finetune.py"/>
        <source>Cancel stops training after the current step; the run's work folder keeps its checkpoints.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/finetune_dialog.py"/>
        <source>Cancel training</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../algorithms/detect.py"/>
        <source>Cancelled by the user; no output was written.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../algorithms/detect.py"/>
        <source>Cannot create the folder {folder} for the output {path} ({reason}).</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/deps_dialog.py"/>
        <source>Cannot run the engine Python: {reason}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../algorithms/finetune.py"/>
        <source>Cannot start: {reasons}.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/finetune_dialog.py"/>
        <source>Cannot start: {reason}.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../algorithms/detect.py"/>
        <source>Cannot write {path} ({reason}); choose another folder, or free disk space.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/models_dialog.py"/>
        <source>Card</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/deps_dialog.py"/>
        <source>Check again</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../plugin.py"/>
        <source>Check dependencies…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/deps_dialog.py"/>
        <source>Checking the engine's packages (importing torch takes a few seconds)…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../algorithms/finetune.py"/>
        <source>Choose a Model card outside the plugin's model folder {folder}: with Register the model is copied there under a free name.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../algorithms/detect.py"/>
        <source>Choose a SAR raster layer or a Sentinel-1 product.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/finetune_dialog.py"/>
        <source>Choose your labelled scenes, then Start.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/finetune_dialog.py"/>
        <source>Class</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../algorithms/finetune.py"/>
        <location filename="../dialogs/finetune_dialog.py"/>
        <location filename="../wording.py"/>
        <source>Class field</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../algorithms/detect.py"/>
        <source>Class probabilities</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../algorithms/detect.py"/>
        <location filename="../layers.py"/>
        <source>Classes</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/finetune_dialog.py"/>
        <source>Close</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/deps_dialog.py"/>
        <source>DAKD Oil Spill – Check dependencies</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/finetune_dialog.py"/>
        <source>DAKD Oil Spill – Fine-tune on my labels</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/models_dialog.py"/>
        <source>DAKD Oil Spill – Models</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/settings_dialog.py"/>
        <source>DAKD Oil Spill – Settings</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../provider.py"/>
        <source>DAKD oil spill</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../provider.py"/>
        <source>DAKD oil spill (Sentinel-1 oil-spill detection)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../algorithms/finetune.py"/>
        <location filename="../wording.py"/>
        <source>Data-set folder</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../algorithms/finetune.py"/>
        <location filename="../wording.py"/>
        <source>Data-set format</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/models_dialog.py"/>
        <source>Default</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/deps_dialog.py"/>
        <source>Default from PyPI (with CUDA on Linux and Windows; several GB)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/settings_dialog.py"/>
        <source>Default model</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/models_dialog.py"/>
        <source>Delete</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/models_dialog.py"/>
        <source>Delete model</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/models_dialog.py"/>
        <source>Delete the model '{name}' and its weights?</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/models_dialog.py"/>
        <source>Deleted {name}.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/models_dialog.py"/>
        <source>Description</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../algorithms/detect.py"/>
        <source>Detect oil spills</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../plugin.py"/>
        <source>Detect oil spills…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/deps_dialog.py"/>
        <source>Detection and fine-tuning (adds torch: hundreds of MB, GBs with CUDA)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/deps_dialog.py"/>
        <source>Detection only (OpenVINO runs the model: tens of MB, no torch)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/settings_dialog.py"/>
        <source>Detection precision</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/settings_dialog.py"/>
        <source>Detection runs and registered models are kept in the cache folder.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/settings_dialog.py"/>
        <source>Detection runs on</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/deps_dialog.py"/>
        <source>Detection runs the model's ONNX export with a light runtime; fine-tuning, and detection on a GPU, need torch.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../algorithms/detect.py"/>
        <location filename="../algorithms/finetune.py"/>
        <location filename="../dialogs/deps_dialog.py"/>
        <location filename="../dialogs/finetune_dialog.py"/>
        <location filename="../dialogs/settings_dialog.py"/>
        <location filename="../wording.py"/>
        <source>Device</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/finetune_dialog.py"/>
        <source>Done in {minutes} min: model '{name}' is registered and used for detection.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/finetune_dialog.py"/>
        <source>Done in {minutes} min: model '{name}' is registered.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../algorithms/finetune.py"/>
        <source>Empty: computed from the data; 1 turns it off.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../algorithms/detect.py"/>
        <source>Empty: each pixel takes its most probable class.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../algorithms/detect.py"/>
        <source>Empty: the default model (Settings…).</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../algorithms/detect.py"/>
        <source>Empty: the detector chooses.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../algorithms/detect.py"/>
        <source>Empty: the only band, or the band named VV. With a Sentinel-1 product: its polarisation in the product's order (1 = VV, 2 = VH in a VV+VH product), not a band of the layer listed.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../algorithms/finetune.py"/>
        <source>Empty: the preset's value.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../algorithms/detect.py"/>
        <source>Empty: the whole scene. The map canvas extent is one click away.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../algorithms/detect.py"/>
        <source>Empty: the whole scene. Tick 'Selected features only' to detect inside the selected polygons.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../plugin.py"/>
        <source>Engine</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/deps_dialog.py"/>
        <location filename="../dialogs/settings_dialog.py"/>
        <source>Engine Python</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/deps_dialog.py"/>
        <source>Everything the engine needs is installed.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../finetune.py"/>
        <source>F1</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/finetune_dialog.py"/>
        <source>Failed</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../algorithms/detect.py"/>
        <source>Finds oil spills, look-alikes and ships in a Sentinel-1 SAR scene and returns them as polygons, with an oil probability raster and a class raster.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../algorithms/finetune.py"/>
        <source>Fine-tune on my labels</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../plugin.py"/>
        <source>Fine-tune on my labels…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/finetune_dialog.py"/>
        <source>Finished</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../algorithms/detect.py"/>
        <source>Found {summary}.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../algorithms/detect.py"/>
        <source>GDAL cannot write {path} as {driver}; choose a .tif output.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/finetune_dialog.py"/>
        <source>Generated pairs per real tile (0 skips the diffusion model)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../algorithms/finetune.py"/>
        <source>Generated pairs per real tile; empty: the preset's value.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/widgets.py"/>
        <source>Help</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../finetune.py"/>
        <source>Ignore – I checked only the outlined areas</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/models_dialog.py"/>
        <source>Import a model card</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/models_dialog.py"/>
        <source>Imported {name}.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/models_dialog.py"/>
        <source>Import…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../algorithms/detect.py"/>
        <source>Input</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../algorithms/detect.py"/>
        <location filename="../wording.py"/>
        <source>Input units</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/models_dialog.py"/>
        <source>Inspect</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/deps_dialog.py"/>
        <source>Install</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/deps_dialog.py"/>
        <source>Install missing</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/deps_dialog.py"/>
        <source>Installation finished.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/deps_dialog.py"/>
        <source>Installed</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/deps_dialog.py"/>
        <source>Installing… this can take several minutes for torch.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../plugin.py"/>
        <source>Install…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../tasks.py"/>
        <source>Internal error ({kind}: {error}); details in the log, please report it.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../finetune.py"/>
        <source>IoU {name}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../algorithms/finetune.py"/>
        <location filename="../dialogs/finetune_dialog.py"/>
        <location filename="../wording.py"/>
        <source>Label polygons</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/finetune_dialog.py"/>
        <source>Label value</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/finetune_dialog.py"/>
        <source>Labelled data</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../algorithms/detect.py"/>
        <source>Land and area of interest</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../algorithms/detect.py"/>
        <location filename="../wording.py"/>
        <source>Land mask</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../algorithms/detect.py"/>
        <source>Land polygons</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../algorithms/detect.py"/>
        <location filename="../wording.py"/>
        <source>Method</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../algorithms/detect.py"/>
        <source>Method and model</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../wording.py"/>
        <source>Minimum area</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../algorithms/detect.py"/>
        <source>Minimum area (km²)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../plugin.py"/>
        <source>Missing Python packages: {names}. Detection and training need them.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/deps_dialog.py"/>
        <source>Missing or unusable: {names}. Install missing puts them in the private folder; QGIS's own packages are not changed.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../algorithms/detect.py"/>
        <location filename="../algorithms/finetune.py"/>
        <location filename="../wording.py"/>
        <source>Model card</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/models_dialog.py"/>
        <source>Model card – {name}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/finetune_dialog.py"/>
        <source>Model card: {card}; registered as {registered}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../algorithms/finetune.py"/>
        <location filename="../dialogs/models_dialog.py"/>
        <source>Model cards (*.json)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../plugin.py"/>
        <source>Models…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/models_dialog.py"/>
        <source>Name</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/deps_dialog.py"/>
        <source>Needed</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/finetune_dialog.py"/>
        <location filename="../wording.py"/>
        <source>New model name</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/finetune_dialog.py"/>
        <source>No generated pairs (augmentation ratio 0).</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/models_dialog.py"/>
        <source>No model cards yet: import one, or fine-tune on your labels. Detection uses the threshold method until then.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/finetune_dialog.py"/>
        <source>None (start from scratch)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/finetune_dialog.py"/>
        <source>Not a class name: ignored until you choose its class</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/finetune_dialog.py"/>
        <source>Not class names, so ignored until you choose their class: {values}.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/models_dialog.py"/>
        <source>Not imported: {reason}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../finetune.py"/>
        <source>Not oil – I outlined only the oil (or have a binary oil mask)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/models_dialog.py"/>
        <source>Not set as default: {reason}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/finetune_dialog.py"/>
        <source>Not started</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/deps_dialog.py"/>
        <source>Nothing was installed: cannot run {python} to ask its Python version; check the engine Python in DAKD Oil Spill ▸ Engine ▸ Settings…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/deps_dialog.py"/>
        <source>Nothing was installed: cannot write {path} ({reason}); check that the QGIS profile folder can be written and has free space.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/deps_dialog.py"/>
        <source>Nothing was installed: the engine Python is now {python} (Settings…), not the one checked; checking it first.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/deps_dialog.py"/>
        <source>Nothing was installed: {python} is a virtual environment without system site-packages, where pip cannot install into the plugin's private folder; install the packages into it with its own pip ({command}), or make it again with python -m venv --system-site-packages.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../layers.py"/>
        <source>Oil probability</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../algorithms/detect.py"/>
        <location filename="../layers.py"/>
        <source>Oil spill polygons</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../algorithms/detect.py"/>
        <source>Oil spill, look-alike and ship polygons from a Sentinel-1 SAR scene.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../layers.py"/>
        <source>Oil spills – {name}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../tasks.py"/>
        <source>Open report</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../algorithms/detect.py"/>
        <source>Outputs</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../algorithms/finetune.py"/>
        <location filename="../dialogs/finetune_dialog.py"/>
        <source>Outside the polygons</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/deps_dialog.py"/>
        <source>Package</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../finetune.py"/>
        <source>Paper – the paper's setting, about a day on one GPU</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../finetune.py"/>
        <source>Precision</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../algorithms/finetune.py"/>
        <location filename="../dialogs/finetune_dialog.py"/>
        <location filename="../wording.py"/>
        <source>Preset</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/deps_dialog.py"/>
        <source>Private folder</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../algorithms/detect.py"/>
        <location filename="../wording.py"/>
        <source>Probability threshold</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/settings_dialog.py"/>
        <source>Python interpreter for the engine</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/settings_dialog.py"/>
        <source>QGIS's Python ({path})</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../finetune.py"/>
        <source>Quick – one GPU, about 15–30 minutes</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../finetune.py"/>
        <source>Recall</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../algorithms/finetune.py"/>
        <source>Register and use for detection</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../algorithms/finetune.py"/>
        <source>Registered model card</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../algorithms/finetune.py"/>
        <source>Registered {card} as the default model.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../algorithms/finetune.py"/>
        <source>Registered {card}, but not as the default model: with a validation share of 0 it was not measured. Make it the default in Models… if you trust it.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/models_dialog.py"/>
        <source>Replace model?</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../algorithms/detect.py"/>
        <source>Report</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/finetune_dialog.py"/>
        <source>Results</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../algorithms/finetune.py"/>
        <source>Runs the DAKD pipeline (arXiv 2412.08116) as a separate &lt;code&gt;dakd finetune&lt;/code&gt; process: SAR-JointNet learns your labelled tiles and generates extra image/soft-label pairs, then SAROSS-Net is trained on the real and generated pairs. The log shows each stage and the validation mIoU.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/deps_dialog.py"/>
        <source>Runs the model</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../algorithms/detect.py"/>
        <source>SAR raster layer</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../algorithms/finetune.py"/>
        <location filename="../dialogs/finetune_dialog.py"/>
        <location filename="../wording.py"/>
        <source>SAR rasters</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/finetune_dialog.py"/>
        <source>SAR-JointNet balancing factor b; 1 turns it off</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/finetune_dialog.py"/>
        <source>SAR-JointNet loss</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../algorithms/finetune.py"/>
        <location filename="../dialogs/finetune_dialog.py"/>
        <location filename="../wording.py"/>
        <source>SAR-JointNet steps</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/finetune_dialog.py"/>
        <source>SAR-JointNet training steps</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/finetune_dialog.py"/>
        <source>SAROSS-Net loss</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../algorithms/finetune.py"/>
        <location filename="../dialogs/finetune_dialog.py"/>
        <location filename="../wording.py"/>
        <source>SAROSS-Net steps</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/finetune_dialog.py"/>
        <source>SAROSS-Net training steps</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../finetune.py"/>
        <source>Sea – everything I did not outline is sea</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../plugin.py"/>
        <source>Segment oil spills</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../tasks.py"/>
        <source>Segment oil spills in {layer}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../tasks.py"/>
        <source>Segment oil spills in {layer}:</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../tasks.py"/>
        <source>Segmenting oil spills in {layer}…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../plugin.py"/>
        <source>Select a SAR raster layer first.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../algorithms/detect.py"/>
        <source>Sentinel-1 product {path} does not exist</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../algorithms/detect.py"/>
        <source>Sentinel-1 products (manifest.safe *.zip *.SAFE);;All files (*)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/models_dialog.py"/>
        <source>Set as default</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../plugin.py"/>
        <source>Settings…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/finetune_dialog.py"/>
        <source>Share of the scenes kept aside to measure the model (split by scene); 0 measures nothing</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../wording.py"/>
        <source>Shoreline buffer</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../algorithms/detect.py"/>
        <source>Shoreline buffer (m)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/finetune_dialog.py"/>
        <source>Stage: {stage}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../finetune.py"/>
        <source>Standard – one GPU, several hours</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/finetune_dialog.py"/>
        <source>Start</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/deps_dialog.py"/>
        <source>Status</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/finetune_dialog.py"/>
        <source>Stopped</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/finetune_dialog.py"/>
        <source>Stopping after the current step…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/models_dialog.py"/>
        <source>The cache folder was changed in Settings…; the list now shows the models in {folder}.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/plot.py"/>
        <source>The curves appear when training starts.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../algorithms/detect.py"/>
        <source>The engine wrote no readable spills.gpkg in {folder}.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/finetune_dialog.py"/>
        <source>The generated image/label pairs appear here at the end.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../algorithms/detect.py"/>
        <source>The input raster {path} does not exist.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../algorithms/detect.py"/>
        <source>The input raster {path} is an empty file (0 bytes).</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/deps_dialog.py"/>
        <source>The installer's log appears here.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/models_dialog.py"/>
        <source>The model shipped with the plugin cannot be deleted</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/finetune_dialog.py"/>
        <source>The model training starts from; the bundled model is a good start</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../algorithms/finetune.py"/>
        <source>The model was trained ({card}) but not registered: {reason}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/finetune_dialog.py"/>
        <source>The model was trained but could not be registered: {reason}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/finetune_dialog.py"/>
        <source>The new model was not measured on validation scenes (validation share 0), so nobody knows how well it detects. Use it for detection anyway?</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../algorithms/detect.py"/>
        <source>The output is not styled: {reason}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../algorithms/common.py"/>
        <source>The run failed.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../algorithms/detect.py"/>
        <source>The run's report could not be kept ({reason}); the outputs are written.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../algorithms/detect.py"/>
        <source>The scene to analyse; not needed when a Sentinel-1 product is given below.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/finetune_dialog.py"/>
        <source>The training log appears here.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../algorithms/finetune.py"/>
        <location filename="../dialogs/finetune_dialog.py"/>
        <source>The training process ended without writing a model.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../events.py"/>
        <source>The {process} failed (exit code {code}); see the log for the reason.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../events.py"/>
        <source>The {process} was interrupted.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../events.py"/>
        <source>The {process} was killed or crashed, most likely because it ran out of memory: close other programs, or choose a smaller preset or batch size, and try again.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../algorithms/detect.py"/>
        <source>There is no raster layer named {name} in the project.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../wording.py"/>
        <source>Tile overlap</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../algorithms/detect.py"/>
        <source>Tile overlap (pixels)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../algorithms/detect.py"/>
        <source>Tiling and filtering</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../finetune.py"/>
        <source>Tiny – a few minutes on a CPU, to try the pipeline (the model is not useful)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../algorithms/finetune.py"/>
        <source>Train DAKD pipeline (advanced)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../plugin.py"/>
        <source>Train DAKD pipeline (advanced)…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../algorithms/finetune.py"/>
        <location filename="../dialogs/finetune_dialog.py"/>
        <source>Training</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/finetune_dialog.py"/>
        <source>Training '{name}'… QGIS stays usable; you can close this window.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/finetune_dialog.py"/>
        <source>Use an unmeasured model?</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/finetune_dialog.py"/>
        <source>Use the new model for detection</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../algorithms/detect.py"/>
        <source>Used when the land mask is 'the polygon layer below'.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../algorithms/finetune.py"/>
        <source>VALUE=CLASS pairs, comma separated, e.g. slick=oil, boat=ship; =ignore for polygons without a value</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/finetune_dialog.py"/>
        <source>Validation</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../algorithms/finetune.py"/>
        <source>Validation mIoU (%)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../algorithms/finetune.py"/>
        <location filename="../dialogs/finetune_dialog.py"/>
        <location filename="../wording.py"/>
        <source>Validation share</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/finetune_dialog.py"/>
        <source>Value</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../algorithms/finetune.py"/>
        <location filename="../dialogs/finetune_dialog.py"/>
        <location filename="../wording.py"/>
        <source>Value mapping</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../algorithms/finetune.py"/>
        <source>Value mapping item {item}: write VALUE=CLASS, e.g. slick=oil.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/finetune_dialog.py"/>
        <source>What the pixels outside every polygon are. If you outlined only the oil (or have a binary oil mask), choose Not oil: they are then trained as any class but oil, so the base model keeps telling look-alikes, ships and land apart</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../algorithms/detect.py"/>
        <source>Where the wind blows from, degrees clockwise from north (Sentinel-1 products). Empty: the wind speed is a range over all directions.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../algorithms/detect.py"/>
        <source>Wind</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../wording.py"/>
        <source>Wind direction</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../algorithms/detect.py"/>
        <source>Wind direction (°, from)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/finetune_dialog.py"/>
        <source>With a validation share of 0 the new model is not measured</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/finetune_dialog.py"/>
        <source>a model named '{name}' already exists (registered, or trained earlier in {folder}) and is kept; the name is now '{free}': press Start to use it, or choose another</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../models.py"/>
        <source>a model named '{name}' is already registered; choose another name, or delete it in Models… first</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/settings_dialog.py"/>
        <source>asking the engine…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../detection.py"/>
        <source>auto (global OpenStreetMap coastline)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../detection.py"/>
        <source>auto (model if available, else threshold)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/settings_dialog.py"/>
        <source>auto: a CUDA GPU when torch sees one, else Apple MPS, else the CPU</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/settings_dialog.py"/>
        <source>auto: what the engine chooses for the device. bf16: faster on processors with bf16 units; its classes differ from fp32's on a few pixels (docs: Benchmarks)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../events.py"/>
        <source>cancelled by the user; the {process} was stopped and wrote no output</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../layers.py"/>
        <source>cannot apply style {style}: {reason}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../contract.py"/>
        <source>cannot ask the engine at {python} for its contract ({reason})</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../models.py"/>
        <source>cannot copy {name} into {folder} ({reason}); free disk space or check the folder</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../models.py"/>
        <source>cannot delete {name} from {folder} ({reason}); check that the folder can be written</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../algorithms/detect.py"/>
        <source>cannot open the input raster; check the path or choose a layer</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../layers.py"/>
        <source>cannot open {source} as a layer</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../finetune.py"/>
        <source>cannot read the run report {path}: {reason}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../models.py"/>
        <source>cannot run the engine to check {path}: {reason}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../engine_command.py"/>
        <source>cannot start the engine with {python} ({reason}); set the engine Python in DAKD Oil Spill ▸ Engine ▸ Settings…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../settings.py"/>
        <source>cannot use the cache folder {folder} ({reason}); choose another in Settings…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../layer_sources.py"/>
        <source>cannot write the polygons of layer '{name}' to {path}: {reason}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../finetune.py"/>
        <source>choose at least one SAR raster</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../finetune.py"/>
        <source>choose the field that holds the class</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../finetune.py"/>
        <source>choose the label polygons</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/finetune_dialog.py"/>
        <source>computed</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../process.py"/>
        <source>could not start {program} ({reason}): check the engine Python in DAKD Oil Spill ▸ Engine ▸ Settings…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../models.py"/>
        <source>default (bundled)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../tasks.py"/>
        <source>detection failed</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../detection.py"/>
        <source>detection process</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../engine_command.py"/>
        <source>engine process</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../finetune.py"/>
        <source>every label value is mapped to ignore: map at least one to a class</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../contract.py"/>
        <location filename="../models.py"/>
        <source>exit code {code}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/settings_dialog.py"/>
        <source>in the QGIS profile</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../layer_sources.py"/>
        <source>layer '{name}' is a {provider} layer, not a file; export it to GeoTIFF (right-click ▸ Export ▸ Save As…) and use that</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../layer_sources.py"/>
        <source>layer '{name}' is read from inside an archive or through a GDAL driver; extract it, or export it to GeoTIFF (right-click ▸ Export ▸ Save As…), and use that</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../finetune.py"/>
        <source>mIoU</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../models.py"/>
        <source>model</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../detection.py"/>
        <source>model '{name}'</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../detection.py"/>
        <source>model (SAROSS-Net)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../detection.py"/>
        <source>model card {path} does not exist; choose a .json model card, or leave the model empty for the default</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/settings_dialog.py"/>
        <source>no report</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../detection.py"/>
        <source>none</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/deps_dialog.py"/>
        <source>not reported</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../wording.py"/>
        <source>output</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/deps_dialog.py"/>
        <source>pip failed (exit code {code}); see above.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/deps_dialog.py"/>
        <source>pip finished, but {names} still cannot be used: pip leaves a package that is installed as it is, so Install missing cannot repair it. The Status column says what fails.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../wording.py"/>
        <source>please report it with the log (View ▸ Panels ▸ Log Messages)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/finetune_dialog.py"/>
        <source>preset</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../wording.py"/>
        <source>set {parameter}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../wording.py"/>
        <source>set {parameter} to {value}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/plot.py"/>
        <source>step {step}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../plugin.py"/>
        <source>the Processing provider 'dakd' is already registered (is the plugin installed twice?); its algorithms come from the other copy</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../engine_command.py"/>
        <source>the Python packages {names} are missing; install them with DAKD Oil Spill ▸ Engine ▸ Check dependencies… (Install missing)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../finetune.py"/>
        <source>the base model {path} does not exist</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../finetune.py"/>
        <source>the data-set folder {folder} does not exist</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../detection.py"/>
        <source>the default model {path} no longer exists; using the model shipped with the plugin instead (choose another default in DAKD Oil Spill ▸ Engine ▸ Models…)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../contract.py"/>
        <source>the engine ({engine}) speaks contract schema version {theirs}, this plugin reads version {ours}: install the plugin version that matches the engine, or choose another engine Python in DAKD Oil Spill ▸ Engine ▸ Settings…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/deps_dialog.py"/>
        <source>the engine Python exited with code {code}; check it in DAKD Oil Spill ▸ Engine ▸ Settings…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../contract.py"/>
        <source>the engine at {python} cannot describe itself ({reason})</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../contract.py"/>
        <source>the engine at {python} printed no readable contract</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../detection.py"/>
        <source>the engine finished without saying where its outputs are</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../wording.py"/>
        <source>the engine setting “{flag}”</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../layer_sources.py"/>
        <source>the file {path} of layer '{name}' no longer exists; put it back, or add it again</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../layer_sources.py"/>
        <source>the input raster layer is not valid; check that its file still exists</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../layer_sources.py"/>
        <source>the label layer is not valid; check that its file still exists</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../algorithms/detect.py"/>
        <source>the land mask is 'the polygon layer below' but no land polygons are chosen; choose a polygon layer, or the land mask auto</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../contract.py"/>
        <source>the plugin's engine</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../detection.py"/>
        <source>the polygon layer below</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../tasks.py"/>
        <source>the results in {folder} cannot be shown: {reason}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../detection.py"/>
        <source>the threshold detector</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../finetune.py"/>
        <source>the validation share must be from 0 to 0.9</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../detection.py"/>
        <source>threshold (classical, no model)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/deps_dialog.py"/>
        <source>torch build</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../algorithms/finetune.py"/>
        <location filename="../dialogs/finetune_dialog.py"/>
        <source>training process</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/deps_dialog.py"/>
        <source>unknown ({reason})</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/settings_dialog.py"/>
        <source>unknown ({reason}); see Check dependencies…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../finetune.py"/>
        <source>unknown background {background}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../finetune.py"/>
        <source>unknown classes in the mapping: {classes}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../finetune.py"/>
        <source>unknown preset {preset}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/finetune_dialog.py"/>
        <source>validation mIoU (%)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../models.py"/>
        <source>validation mIoU {value} %</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../tasks.py"/>
        <source>warnings: {warnings}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../detection.py"/>
        <source>will not replace {path}: it is a folder, not a file</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../detection.py"/>
        <source>will not replace {path}: it is an input of this run</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../detection.py"/>
        <source>will not replace {path}: it lies inside the input {input}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/settings_dialog.py"/>
        <source>{backend} on {device}. Backend: {backend_reason}. Device: {device_reason}.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../detection.py"/>
        <source>{count} look-alikes</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../detection.py"/>
        <source>{count} oil spills, {area} km², {device}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../detection.py"/>
        <source>{count} ships</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../events.py"/>
        <source>{hours} h {minutes} min left</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../tasks.py"/>
        <source>{layer}: cancelled, nothing was written</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../tasks.py"/>
        <source>{layer}: {error} (log: View ▸ Panels ▸ Log Messages)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../events.py"/>
        <source>{minutes} min {seconds} s left</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/settings_dialog.py"/>
        <source>{name} (not in the model list)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/models_dialog.py"/>
        <source>{name} is now the default model for detection.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/models_dialog.py"/>
        <source>{name} is registered already.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../models.py"/>
        <source>{path} is not a model card, and it is not replaced; give the model another name</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../models.py"/>
        <source>{path} is not a model card: expected a JSON object</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../models.py"/>
        <source>{path} is not a model card; it is left as it is</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../algorithms/detect.py"/>
        <source>{path} is not a raster QGIS can read (GDAL does not recognise its format).</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../models.py"/>
        <source>{path} is not a readable model card (JSON): {reason}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../models.py"/>
        <source>{path} is not a registered model (the bundled model cannot be deleted)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../models.py"/>
        <source>{path}: its weights file {weights} is missing; keep the .json and .safetensors files together</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../algorithms/detect.py"/>
        <source>{reason}; choose another file for “{output}”</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../events.py"/>
        <source>{seconds} s left</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/finetune_dialog.py"/>
        <source>{what}; '{special}' uses the preset's value</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../wording.py"/>
        <source>“{label}”</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../algorithms/detect.py"/>
        <source>…or a Sentinel-1 product</source>
        <translation type="unfinished"></translation>
    </message>
</context>
</TS>
